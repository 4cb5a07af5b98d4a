/* l4_main: placeholder until the L4 front end lands. */
#include <stdio.h>
#include "ctl.h"

int l4_main(int argc, char **argv)
{
	fprintf(stderr, "tandem l4: not built yet\n");
	return 1;
}
