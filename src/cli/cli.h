/*
 * cli.h - subcommands of the fuse-layerimg program.
 *
 * Each subcommand parses its own arguments (argv[0] is the subcommand
 * name), prints its own diagnostics to stderr prefixed with
 * "fuse-layerimg <cmd>: ", and returns the process exit status:
 * 0 success, 1 a difference or a failure on the input, 2 bad usage.
 */
#ifndef LIMG_CLI_H
#define LIMG_CLI_H

int limg_cmd_render(int argc, char **argv);
int limg_cmd_check(int argc, char **argv);
int limg_cmd_stack(int argc, char **argv);
int limg_cmd_upgrade(int argc, char **argv);

/* The mount: argv as the whole program got it (argv[0] the program). */
int limg_cmd_mount(int argc, char **argv);

#endif /* LIMG_CLI_H */
