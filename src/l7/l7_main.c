/* l7_main: placeholder. */
#include <stdio.h>
#include "ctl.h"

int l7_main(int argc, char **argv)
{
	fprintf(stderr, "tandem l7: not built yet\n");
	return 1;
}
