/* ctl.h: entry points of the roles the tandem binary can run. */
#ifndef TANDEM_CTL_H
#define TANDEM_CTL_H

#define TANDEM_VERSION "0.1.0"

/* Each takes the arguments after the command name (argv[0] is the command)
 * and returns the process exit status. */
int l7_main(int argc, char **argv);
int l4_main(int argc, char **argv);
int ctl_main(int argc, char **argv);       /* tandem ctl (ctl_cmd.c) */

#endif
