#!/bin/sh
# bench/tls/client_cnf.sh SUITE: prints an OpenSSL configuration that pins
# every client reading it (OPENSSL_CONF=FILE: wrk, Python, s_client) to TLS
# 1.3, the one suite SUITE and the group X25519, so that terminators that
# choose differently by default are measured on the same cryptography.
# Used by bench/tls/run.sh and bench/scaling/run.sh (TLS=1).
cat <<CONF
openssl_conf = bench_init
[bench_init]
ssl_conf = bench_ssl
[bench_ssl]
system_default = bench_client
[bench_client]
MinProtocol = TLSv1.3
MaxProtocol = TLSv1.3
Ciphersuites = ${1:?SUITE}
Groups = X25519
CONF
