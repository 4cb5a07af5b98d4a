/* csum_ref.h: the Internet checksum computed from scratch (RFC 1071), the
 * reference the BPF data-path tests check a program's incremental updates
 * against: big-endian 16-bit words summed, an odd last byte padded. */
#ifndef TANDEM_CSUM_REF_H
#define TANDEM_CSUM_REF_H

#include <stddef.h>
#include <stdint.h>

/* S plus the words of N bytes at P (not folded). */
static inline uint32_t sum16(const void *p, size_t n, uint32_t s)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (b[i] << 8) | b[i + 1];
	if (n & 1)
		s += b[n - 1] << 8;
	return s;
}

/* A sum folded to 16 bits with its carries; 0xffff for data that verifies. */
static inline uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

#endif
