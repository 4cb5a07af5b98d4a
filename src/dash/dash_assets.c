/* dash_assets: the dashboard's page and script, built into the binary from
 * src/dash/dash.html and src/dash/dash.js (the Makefile makes this object
 * depend on them), so an installed tandem needs no data file but Debian's
 * Chart.js. .incbin reads them relative to the directory make runs in, the
 * tree's root; each blob is followed by a NUL so it is also a C string. */
__asm__(".section .rodata\n"
	".global dash_html\n.type dash_html, @object\n"
	"dash_html:\n.incbin \"src/dash/dash.html\"\n"
	".global dash_html_end\ndash_html_end:\n.byte 0\n"
	".global dash_js\n.type dash_js, @object\n"
	"dash_js:\n.incbin \"src/dash/dash.js\"\n"
	".global dash_js_end\ndash_js_end:\n.byte 0\n"
	".previous\n");
