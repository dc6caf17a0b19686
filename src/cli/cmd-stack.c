/*
 * cmd-stack.c - `fuse-layerimg stack [--mount MNT] NAME`: the disks a
 * runtime needs for an image or a container, as paths under a mount.
 *
 * Reads only the mount (its tags/, images/ and containers/ directories),
 * so it works for any store the mount serves and needs no privileges
 * beyond reading the mount.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "cli/cli.h"
#include "cli/opts.h"

#define DEFAULT_MOUNT "/run/layerimg"

static const LimgCliSpec spec = {
	.cmd = "stack",
	.params = "[OPTION...] NAME",
	.summary =
		"Print the disks of an image or a container served by a mount: the\n"
		"image files of its layers, lowest first (one path a line), or its one\n"
		"flattened root file system.\n"
		"\n"
		"NAME is a tag (repository:tag; a name without a tag means :latest), an\n"
		"image id, a container id, or a unique prefix of an image or container\n"
		"id.",
	.description =
		"Examples:\n"
		"  qemu-system-x86_64 ... $(fuse-layerimg stack --qemu --rootfs myapp:1)\n"
		"  solo5-hvt $(fuse-layerimg stack --solo5 --rootfs myapp:1) app.hvt\n"
		"\n"
		"Exit status: 0 found, 1 NAME unknown or ambiguous (or the mount\n"
		"unreadable), 2 usage.",
};

typedef struct {
	guint index;
	char *diff_id;
	char *chain_id;
	char *path;             /* the layer's image, absolute */
} Layer;

static void
layer_free(gpointer p)
{
	Layer *l = p;

	g_free(l->diff_id);
	g_free(l->chain_id);
	g_free(l->path);
	g_free(l);
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Entries of @dir starting with @prefix. */
static GPtrArray *
matching(const char *dir, const char *prefix)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d && (name = g_dir_read_name(d)) != NULL) {
		if (g_str_has_prefix(name, prefix))
			g_ptr_array_add(out, g_strdup(name));
	}
	if (d)
		g_dir_close(d);
	return out;
}

/*
 * Find NAME under @mnt: *kind "images" or "containers", *id. 0, or 1
 * with a message (unknown, ambiguous).
 */
static int
resolve(const char *mnt, const char *name, char **kind, char **id)
{
	g_autoptr(GPtrArray) imgs = NULL, ctrs = NULL;
	g_autofree char *tag = NULL, *link = NULL;
	const char *slash = strrchr(name, '/');

	/* A tag: tags/<repository>:<tag> -> ../images/<id>. */
	tag = strchr(slash ? slash : name, ':') ? g_strdup(name) : g_strconcat(name, ":latest", NULL);
	if (!strstr(tag, "..") && tag[0] != '/') {
		g_autofree char *path = g_build_filename(mnt, "tags", tag, NULL);

		link = g_file_read_link(path, NULL);
		if (link) {
			*kind = g_strdup("images");
			*id = g_path_get_basename(link);
			return 0;
		}
	}
	if (strchr(name, '/') || name[0] == '.' || !name[0]) {
		limg_cli_error(&spec, "%s: no such tag, image or container under %s", name, mnt);
		return 1;
	}
	{
		g_autofree char *images = g_build_filename(mnt, "images", NULL);
		g_autofree char *containers = g_build_filename(mnt, "containers", NULL);

		if (!is_dir(images) && !is_dir(containers)) {
			limg_cli_error(&spec, "%s: no images/ or containers/ directory: is a store "
			               "with metadata (docker, containers) mounted there?", mnt);
			return 1;
		}
		imgs = matching(images, name);
		ctrs = matching(containers, name);
	}
	/* An exact id wins over prefixes of others. */
	for (guint i = 0; i < imgs->len; i++) {
		if (strcmp(imgs->pdata[i], name) == 0) {
			*kind = g_strdup("images");
			*id = g_strdup(name);
			return 0;
		}
	}
	for (guint i = 0; i < ctrs->len; i++) {
		if (strcmp(ctrs->pdata[i], name) == 0) {
			*kind = g_strdup("containers");
			*id = g_strdup(name);
			return 0;
		}
	}
	if (imgs->len + ctrs->len == 1) {
		*kind = g_strdup(imgs->len ? "images" : "containers");
		*id = g_strdup(imgs->len ? imgs->pdata[0] : ctrs->pdata[0]);
		return 0;
	}
	if (imgs->len + ctrs->len == 0) {
		limg_cli_error(&spec, "%s: no such tag, image or container under %s", name, mnt);
		return 1;
	}
	limg_cli_error(&spec, "%s is ambiguous: %u images and %u containers start with it", name,
	               imgs->len, ctrs->len);
	for (guint i = 0; i < imgs->len; i++)
		fprintf(stderr, "  image %s\n", (char *)imgs->pdata[i]);
	for (guint i = 0; i < ctrs->len; i++)
		fprintf(stderr, "  container %s\n", (char *)ctrs->pdata[i]);
	return 1;
}

/* The layers of @dir (images/<id> or containers/<id>) from its layers file. */
static GPtrArray *
read_layers(const char *mnt, const char *dir, GError **error)
{
	g_autofree char *file = g_build_filename(dir, "layers", NULL);
	g_autofree char *text = NULL;
	g_auto(GStrv) lines = NULL;
	GPtrArray *out;

	if (!g_file_get_contents(file, &text, NULL, error))
		return NULL;
	out = g_ptr_array_new_with_free_func(layer_free);
	lines = g_strsplit(text, "\n", -1);
	for (guint i = 0; lines[i]; i++) {
		g_auto(GStrv) f = g_strsplit(lines[i], " ", 4);
		Layer *l;

		if (!lines[i][0])
			continue;
		if (g_strv_length(f) != 4 || strchr(f[3], '/')) {
			g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: line %u unreadable",
			            file, i + 1);
			g_ptr_array_free(out, TRUE);
			return NULL;
		}
		l = g_new0(Layer, 1);
		l->index = (guint)g_ascii_strtoull(f[0], NULL, 10);
		l->diff_id = strcmp(f[1], "-") ? g_strdup(f[1]) : NULL;
		l->chain_id = strcmp(f[2], "-") ? g_strdup(f[2]) : NULL;
		l->path = g_build_filename(mnt, f[3], NULL);
		g_ptr_array_add(out, l);
	}
	return out;
}

static void
print_json(const char *kind, const char *id, const char *mnt, const char *dir, GPtrArray *layers,
           const char *rootfs)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "kind");
	json_builder_add_string_value(b, strcmp(kind, "images") == 0 ? "image" : "container");
	json_builder_set_member_name(b, "id");
	json_builder_add_string_value(b, id);
	json_builder_set_member_name(b, "mount");
	json_builder_add_string_value(b, mnt);
	json_builder_set_member_name(b, "directory");
	json_builder_add_string_value(b, dir);
	json_builder_set_member_name(b, "layers");
	json_builder_begin_array(b);
	for (guint i = 0; i < layers->len; i++) {
		const Layer *l = layers->pdata[i];

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "index");
		json_builder_add_int_value(b, l->index);
		json_builder_set_member_name(b, "diff_id");
		if (l->diff_id)
			json_builder_add_string_value(b, l->diff_id);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "chain_id");
		if (l->chain_id)
			json_builder_add_string_value(b, l->chain_id);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "path");
		json_builder_add_string_value(b, l->path);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_set_member_name(b, "rootfs");
	json_builder_add_string_value(b, rootfs);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, NULL);
	printf("%s\n", text);
}

int
limg_cmd_stack(int argc, char **argv)
{
	g_autofree char *mount = NULL, *kind = NULL, *id = NULL, *dir = NULL, *rootfs = NULL;
	g_autofree char *mnt = NULL;
	gboolean want_rootfs = FALSE, qemu = FALSE, solo5 = FALSE, json = FALSE;
	const GOptionEntry entries[] = {
		{ "mount", 'm', 0, G_OPTION_ARG_FILENAME, &mount,
		  "The fuse-layerimg mount (default " DEFAULT_MOUNT ")", "MNT" },
		{ "rootfs", 'r', 0, G_OPTION_ARG_NONE, &want_rootfs,
		  "The one flattened root file system image instead of the layers", NULL },
		{ "qemu", 0, 0, G_OPTION_ARG_NONE, &qemu,
		  "Print QEMU -drive arguments (read-only, raw, virtio, cache=none)", NULL },
		{ "solo5", 0, 0, G_OPTION_ARG_NONE, &solo5,
		  "Print solo5 tender --block: arguments (rootfs, or layer00, layer01, ...)", NULL },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json,
		  "Print everything as JSON: kind, id, layers (index, diff_id, chain_id, "
		  "path), rootfs", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(GPtrArray) layers = NULL;
	g_autoptr(GError) error = NULL;
	int ret;

	ret = limg_cli_parse(&spec, entries, &argc, &argv);
	if (ret >= 0)
		return ret;
	if (argc != 2)
		return limg_cli_usage_error(&spec, argc < 2 ? "expected NAME" : "expected one NAME");
	if ((qemu + solo5 + json) > 1)
		return limg_cli_usage_error(&spec, "--qemu, --solo5 and --json exclude each other");
	mnt = g_canonicalize_filename(mount ? mount : DEFAULT_MOUNT, NULL);
	if (!is_dir(mnt)) {
		limg_cli_error(&spec, "%s: %s", mnt, g_strerror(errno ? errno : ENOTDIR));
		return 1;
	}
	if (resolve(mnt, argv[1], &kind, &id) != 0)
		return 1;
	dir = g_build_filename(mnt, kind, id, NULL);
	rootfs = g_build_filename(dir, "rootfs.iso", NULL);
	layers = read_layers(mnt, dir, &error);
	if (!layers) {
		limg_cli_error(&spec, "%s", error->message);
		return 1;
	}
	if (json) {
		print_json(kind, id, mnt, dir, layers, rootfs);
		return 0;
	}
	if (want_rootfs) {
		if (qemu)
			printf("-drive file=%s,format=raw,readonly=on,if=virtio,cache=none\n", rootfs);
		else if (solo5)
			printf("--block:rootfs=%s\n", rootfs);
		else
			printf("%s\n", rootfs);
		return 0;
	}
	for (guint i = 0; i < layers->len; i++) {
		const Layer *l = layers->pdata[i];

		if (qemu)
			printf("-drive file=%s,format=raw,readonly=on,if=virtio,cache=none\n", l->path);
		else if (solo5)
			printf("--block:layer%02u=%s\n", l->index, l->path);
		else
			printf("%s\n", l->path);
	}
	return 0;
}
