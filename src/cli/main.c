/*
 * main.c - fuse-layerimg: show container layers as ISO 9660 images.
 *
 * Dispatches to the subcommands in cmd-*.c. Every subcommand parses its
 * own options, so `fuse-layerimg SUB --help` answers for SUB.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "cli/cli.h"

static const char usage[] =
	"Usage: fuse-layerimg [OPTIONS] SOURCE MOUNTPOINT\n"
	"       fuse-layerimg COMMAND [OPTIONS] ...\n"
	"\n"
	"Show container image layers (directory trees) as ISO 9660 + Rock Ridge\n"
	"images, synthesized on demand: file data is never copied, only metadata\n"
	"is rendered.\n"
	"\n"
	"Without a command, mount: every layer of the store SOURCE appears as\n"
	"MOUNTPOINT/<layer>.iso (see 'fuse-layerimg mount --help').\n"
	"\n"
	"Commands:\n"
	"  mount SOURCE MOUNTPOINT   the same as without a command\n"
	"  render DIR [-o OUT]       write the image of layer DIR to OUT (or stdout)\n"
	"  render DIR DIR... -o OUT  the same for a stack of layers, flattened\n"
	"  check IMAGE DIR           read IMAGE back with an independent ISO reader\n"
	"                            (libisofs or libarchive) and list every\n"
	"                            difference from DIR; exit 1 on any\n"
	"  stack [-m MNT] NAME       the disks of an image or a container (tag, id,\n"
	"                            id prefix) under a mount: layer images, or\n"
	"                            --rootfs; --qemu, --solo5, --json forms\n"
	"  upgrade MOUNTPOINT        hand a running mount over to the binary now on\n"
	"                            disk, without unmounting\n"
	"\n"
	"Options:\n"
	"  -h, --help                show this help\n"
	"  --version                 show the version\n"
	"\n"
	"Run 'fuse-layerimg COMMAND --help' for a command's options.\n"
	"Exit status: 0 success, 1 failure or difference, 2 usage error.\n";

/* Deep layers hold one directory fd per level during a walk. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int
main(int argc, char **argv)
{
	raise_fd_limit();
	/*
	 * glibc reads the time zone file at the first gmtime_r(), which
	 * rendering calls (ISO dates): read it now, not on a request's path.
	 */
	tzset();
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "render") == 0)
		return limg_cmd_render(argc - 1, argv + 1);
	if (strcmp(argv[1], "check") == 0)
		return limg_cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "stack") == 0)
		return limg_cmd_stack(argc - 1, argv + 1);
	if (strcmp(argv[1], "upgrade") == 0)
		return limg_cmd_upgrade(argc - 1, argv + 1);
	if (strcmp(argv[1], "mount") == 0) {
		argv[1] = argv[0];
		return limg_cmd_mount(argc - 1, argv + 1);
	}
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	return limg_cmd_mount(argc, argv);
}
