/*
 * check_config.c: config.c. The round trip is driven by options.def itself,
 * expanded here a second time, so an option added to the table is tested
 * without anyone remembering to.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "config.h" alone would find the autoconf header of the build dir. */
#include "../../src/config.h"
#include "../../src/log.h"
#include "../../src/log_format.h"
#include "../../src/util.h"

enum { TK_GROUP, TK_OPT, TK_LIST, TK_ELEM };
enum { TT_BOOL, TT_INT, TT_SIZE, TT_DURATION, TT_STRING, TT_ENUM,
	TT_ADDRESS, TT_NONE };
enum { TA_ACTIVE, TA_LATER, TA_LATER_IF_CHANGED };

struct topt {
	int		 kind;
	const char	*path;	/* TK_ELEM: key */
	int		 type;
	const char	*def, *min, *max, *choices, *check;
	int		 active, required, min_n, max_n;
	size_t		 off, count_off, elem_size, line_off;
	int		 list;
};

enum {
#define GROUP(id, ...)		TI_##id,
#define OPT(id, ...)		TI_##id,
#define LIST(id, ...)		TI_##id,
#define ELEM(list, name, ...)	TI_##list##_##name,
#define END_LIST(list)
#include "../../src/options.def"
#undef GROUP
#undef OPT
#undef LIST
#undef ELEM
#undef END_LIST
	TI_COUNT
};

#define TELEM_TYPE(list)	__typeof__(*((struct config *)0)->list)

static const struct topt topts[TI_COUNT] = {
#define GROUP(id, p, d)	{ .kind = TK_GROUP, .path = p, .type = TT_NONE },
#define OPT(id, p, t, df, mn, mx, ch, ex, ck, rl, ac, d)		\
	{ .kind = TK_OPT, .path = p, .type = TT_##t, .def = df, .min = mn,	\
	  .max = mx, .choices = ch, .check = #ck, .active = TA_##ac,	\
	  .off = offsetof(struct config, id) },
#define LIST(id, p, el, wh, mn, mx, rl, ac, d)				\
	{ .kind = TK_LIST, .path = p, .type = TT_NONE, .min_n = mn,	\
	  .max_n = mx, .active = TA_##ac,				\
	  .off = offsetof(struct config, id),				\
	  .count_off = offsetof(struct config, n##id),			\
	  .elem_size = sizeof(struct cfg_##el),				\
	  .line_off = offsetof(struct cfg_##el, line) },
#define ELEM(l, n, t, df, mn, mx, ch, ex, ck, nd, ac, d)		\
	{ .kind = TK_ELEM, .path = #n, .type = TT_##t, .def = df,	\
	  .min = mn, .max = mx, .choices = ch, .check = #ck,		\
	  .required = (TN_##nd), .active = TA_##ac, .list = TI_##l,	\
	  .off = offsetof(TELEM_TYPE(l), n) },
#define END_LIST(list)
#define TN_REQUIRED	1
#define TN_OPTIONAL	0
#include "../../src/options.def"
#undef GROUP
#undef OPT
#undef LIST
#undef ELEM
#undef END_LIST
};

static char	 tmpdir[64];
static char	 cpath[128];
static char	 tokpath[128];	/* admin.token_file of the round trip */

#define FILE_TOKEN	"s3cret-Token.from~file"

static void
setup(void)
{
	FILE	*fp;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(cpath, sizeof(cpath), "%s/vane.conf", tmpdir);
	snprintf(tokpath, sizeof(tokpath), "%s/token", tmpdir);
	fp = fopen(tokpath, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(FILE_TOKEN "\nsecond line, ignored\n", fp);
	ck_assert_int_eq(fclose(fp), 0);
}

static void
teardown(void)
{
	char	 p[160];

	unlink(cpath);
	unlink(tokpath);
	snprintf(p, sizeof(p), "%s/dump.conf", tmpdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/inc.conf", tmpdir);
	unlink(p);
	rmdir(tmpdir);
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
}

static struct config *
load_text(const char *text, char *err, size_t errlen)
{
	write_file(cpath, text);
	return (config_load(cpath, err, errlen));
}

/* The smallest valid configuration, for tests that add one option. */
#define MINIMAL \
	"listen = ( { address = \"127.0.0.1:8080\"; } );\n" \
	"backends = { servers = ( { address = \"127.0.0.1:8001\"; } ); };\n"

/* The longest admin.token. */
#define TOKEN64 \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define TOKEN512 TOKEN64 TOKEN64 TOKEN64 TOKEN64 TOKEN64 TOKEN64 TOKEN64 \
	TOKEN64

static const char *
tname(int i, char *buf, size_t len)
{
	if (topts[i].kind != TK_ELEM)
		return (topts[i].path);
	snprintf(buf, len, "%s[].%s", topts[topts[i].list].path,
	    topts[i].path);
	return (buf);
}

/* Index of choice s in "a|b|c", or -1; written again on purpose. */
static int
tchoice(const char *choices, const char *s)
{
	const char	*p = choices;
	size_t		 n = strlen(s);
	int		 i;

	for (i = 0; p != NULL; i++) {
		if (strncmp(p, s, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return (i);
		if ((p = strchr(p, '|')) != NULL)
			p++;
	}
	return (-1);
}

/* A choice other than def, into buf. */
static void
other_choice(const char *choices, const char *def, char *buf, size_t len)
{
	const char	*p = choices;
	size_t		 n;

	for (; p != NULL; p = strchr(p, '|') != NULL ? strchr(p, '|') + 1 :
	    NULL) {
		n = strcspn(p, "|");
		if (def == NULL || strlen(def) != n ||
		    strncmp(p, def, n) != 0) {
			snprintf(buf, len, "%.*s", (int)n, p);
			return;
		}
	}
	ck_abort_msg("no other choice in %s", choices);
}

/*
 * A valid value of row i other than its default, as written in a file
 * (quoted when a string), into buf. salt keeps addresses unique.
 */
static void
nondefault(int i, int salt, char *buf, size_t len)
{
	const struct topt	*t = &topts[i];
	char			 c[160];
	long			 v, max;

	switch (t->type) {
	case TT_BOOL:
		snprintf(buf, len, "%s", t->def != NULL &&
		    strcmp(t->def, "true") == 0 ? "false" : "true");
		break;
	case TT_INT:
		v = t->def != NULL ? strtol(t->def, NULL, 10) : 0;
		max = t->max != NULL ? strtol(t->max, NULL, 10) : v + 1;
		snprintf(buf, len, "%ld", v + 1 <= max ? v + 1 : v - 1);
		break;
	case TT_SIZE:
	case TT_DURATION:
		snprintf(buf, len, "\"%s\"", t->def != NULL &&
		    strcmp(t->def, t->max) == 0 ? t->min : t->max);
		break;
	case TT_ENUM:
		other_choice(t->choices, t->def, c, sizeof(c));
		snprintf(buf, len, "\"%s\"", c);
		break;
	case TT_STRING:
		if (t->choices != NULL)
			other_choice(t->choices, t->def, c, sizeof(c));
		else if (strcmp(t->check, "check_abs_path") == 0)
			snprintf(c, sizeof(c), "/test/%d", salt);
		else if (i == TI_admin_token_file)
			snprintf(c, sizeof(c), "%s", tokpath);
		else if (strcmp(t->check, "check_redis_address") == 0)
			snprintf(c, sizeof(c), "unix:/run/redis-%d.sock", salt);
		else if (strcmp(t->check, "check_status_list") == 0)
			snprintf(c, sizeof(c), "200,%d-599", 300 + salt % 299);
		else if (strcmp(t->check, "check_hsts") == 0)
			snprintf(c, sizeof(c), "max-age=%d", salt);
		else if (strcmp(t->check, "check_access_format") == 0)
			snprintf(c, sizeof(c), "$status $${%d} ${http_x_t}%d",
			    salt, salt);
		else
			snprintf(c, sizeof(c), "test-%d", salt);
		snprintf(buf, len, "\"%s\"", c);
		break;
	case TT_ADDRESS:
		snprintf(buf, len, "\"127.0.%d.%d:%d\"", salt / 250,
		    salt % 250 + 1, 1000 + salt);
		break;
	default:
		ck_abort_msg("type of %s", t->path);
	}
}

/* text without its quotes, with the escapes of quote() read back. */
static void
unquote(const char *text, char *out, size_t len)
{
	size_t	 n = 0;

	if (*text != '"') {
		snprintf(out, len, "%s", text);
		return;
	}
	for (text++; *text != '\0' && n + 1 < len; text++) {
		if (*text == '\\' && text[1] != '\0')
			text++;
		else if (*text == '"' && text[1] == '\0')
			break;
		out[n++] = *text;
	}
	out[n] = '\0';
}

/* Assert that field of row i holds what text (as nondefault wrote it) says. */
static void
assert_field(int i, const void *base, const char *text, int elem)
{
	const struct topt	*t = &topts[i];
	const void		*f = (const char *)base + t->off;
	const struct cfg_addr	*a = f;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 s[512], nb[64];
	uint64_t		 u;

	unquote(text, s, sizeof(s));
	switch (t->type) {
	case TT_BOOL:
		ck_assert_msg(*(const int *)f == (strcmp(s, "true") == 0),
		    "%s[%d]", tname(i, nb, sizeof(nb)), elem);
		break;
	case TT_INT:
		ck_assert_msg(*(const long *)f == strtol(s, NULL, 10),
		    "%s[%d]: %ld", tname(i, nb, sizeof(nb)), elem,
		    *(const long *)f);
		break;
	case TT_SIZE:
	case TT_DURATION:
		ck_assert_int_eq(t->type == TT_SIZE ? parse_size(s, &u) :
		    parse_duration(s, &u), 0);
		ck_assert_msg(*(const uint64_t *)f == u, "%s[%d]",
		    tname(i, nb, sizeof(nb)), elem);
		break;
	case TT_ENUM:
		ck_assert_msg(*(const int *)f == tchoice(t->choices, s),
		    "%s[%d]", tname(i, nb, sizeof(nb)), elem);
		break;
	case TT_STRING:
		ck_assert_msg(*(char *const *)f != NULL &&
		    strcmp(*(char *const *)f, s) == 0, "%s[%d]",
		    tname(i, nb, sizeof(nb)), elem);
		break;
	case TT_ADDRESS:
		ck_assert_msg(a->set && a->text != NULL &&
		    strcmp(a->text, s) == 0, "%s[%d]",
		    tname(i, nb, sizeof(nb)), elem);
		ck_assert_int_eq(parse_address(s, &ss, &len, NULL), 0);
		ck_assert_int_eq(a->len, len);
		ck_assert_int_eq(memcmp(&a->ss, &ss, len), 0);
		break;
	}
}

/* Assert that field of row i holds its default (or is unset). */
static void
assert_default(int i, const void *base, int elem)
{
	const struct topt	*t = &topts[i];
	const void		*f = (const char *)base + t->off;
	char			 q[512], nb[64];

	if (t->def == NULL) {
		if (t->type == TT_STRING)
			ck_assert_msg(*(char *const *)f == NULL, "%s",
			    tname(i, nb, sizeof(nb)));
		else if (t->type == TT_ADDRESS && !t->required)
			ck_assert_msg(!((const struct cfg_addr *)f)->set,
			    "%s", tname(i, nb, sizeof(nb)));
		return;
	}
	snprintf(q, sizeof(q), "\"%s\"", t->def);
	assert_field(i, base, t->type == TT_BOOL || t->type == TT_INT ?
	    t->def : q, elem);
}

/*
 * Writes a configuration setting every option to a value other than its
 * default: nested groups as the table nests them, two elements per list
 * (one when the list takes only one). vals[i][e] is what was written for
 * row i in element e, lines[i][e] its line.
 */
struct all {
	char	 vals[TI_COUNT][2][256];
	int	 lines[TI_COUNT][2];
	int	 nelem[TI_COUNT];
};

static int
put(FILE *fp, int *line, const char *fmt, const char *a, const char *b)
{
	fprintf(fp, fmt, a, b);
	return ((*line)++);
}

static size_t
tparent_len(int i)
{
	const char	*dot = strrchr(topts[i].path, '.');

	return (dot != NULL ? (size_t)(dot - topts[i].path) : 0);
}

/* s as a libconfig string: quoted, '"' and backslash escaped (the access
 * log's format has quotes). */
static void
quote(const char *s, char *buf, size_t len)
{
	size_t	 n = 0;

	buf[n++] = '"';
	for (; *s != '\0' && n + 3 < len; s++) {
		if (*s == '"' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n++] = '"';
	buf[n] = '\0';
}

/* A value for row i: its default if dflt and it has one. */
static void
value_for(int i, int salt, int dflt, char *buf, size_t len)
{
	const struct topt	*t = &topts[i];

	if (!dflt || t->def == NULL)
		nondefault(i, salt, buf, len);
	else if (t->type == TT_BOOL || t->type == TT_INT)
		snprintf(buf, len, "%s", t->def);
	else
		quote(t->def, buf, len);
}

static void
write_all(const char *path, struct all *all, int dflt)
{
	FILE		*fp = fopen(path, "w");
	size_t		 stack[8];
	const char	*key, *dot;
	int		 depth = 0, line = 1, i, j, e, salt = 1;

	ck_assert_ptr_nonnull(fp);
	memset(all, 0, sizeof(*all));
	for (i = 0; i < TI_COUNT; i++) {
		if (topts[i].kind == TK_ELEM)
			continue;
		while (depth > 0 && stack[depth - 1] != tparent_len(i)) {
			depth--;
			put(fp, &line, "%s%s};\n", "", "");
		}
		dot = strrchr(topts[i].path, '.');
		key = dot != NULL ? dot + 1 : topts[i].path;
		if (topts[i].kind == TK_GROUP) {
			put(fp, &line, "%s%s = {\n", "", key);
			stack[depth++] = strlen(topts[i].path);
			continue;
		}
		/* admin.token and admin.token_file exclude each other: the
		 * round trip sets the file, a real one (see setup). */
		if (i == TI_admin_token)
			continue;
		if (topts[i].kind == TK_OPT) {
			value_for(i, salt++, dflt, all->vals[i][0], 256);
			all->lines[i][0] = put(fp, &line, "%s = %s;\n", key,
			    all->vals[i][0]);
			continue;
		}
		all->lines[i][0] = put(fp, &line, "%s%s = (\n", "", key);
		all->nelem[i] = topts[i].max_n == 1 ? 1 : 2;
		for (e = 0; e < all->nelem[i]; e++) {
			put(fp, &line, "%s%s{\n", "", "");
			for (j = i + 1; j < TI_COUNT &&
			    topts[j].kind == TK_ELEM; j++) {
				/* hsts has no default and needs a TLS
				 * listener, and a TLS listener cannot
				 * redirect: tls is always true,
				 * redirect_https always its default. */
				value_for(j, salt++, (dflt &&
				    j != TI_listen_tls) ||
				    j == TI_listen_redirect_https,
				    all->vals[j][e], 256);
				all->lines[j][e] = put(fp, &line,
				    "%s = %s;\n", topts[j].path,
				    all->vals[j][e]);
			}
			put(fp, &line, "%s}%s\n", "",
			    e + 1 < all->nelem[i] ? "," : "");
		}
		put(fp, &line, "%s%s);\n", "", "");
	}
	while (depth-- > 0)
		put(fp, &line, "%s%s};\n", "", "");
	ck_assert_int_eq(fclose(fp), 0);
}

/* Every option and every element of every list holds what write_all wrote. */
static void
assert_all(const struct config *cfg, const struct all *all)
{
	const char	*elems;
	int		 i, j, e;

	ck_assert_ptr_null(cfg->admin_token);
	ck_assert_str_eq(cfg->admin_secret, FILE_TOKEN);
	for (i = 0; i < TI_COUNT; i++) {
		if (topts[i].kind == TK_OPT && i != TI_admin_token)
			assert_field(i, cfg, all->vals[i][0], 0);
		if (topts[i].kind != TK_LIST)
			continue;
		ck_assert_int_eq(*(const int *)((const char *)cfg +
		    topts[i].count_off), all->nelem[i]);
		elems = *(char *const *)((const char *)cfg + topts[i].off);
		for (e = 0; e < all->nelem[i]; e++)
			for (j = i + 1; j < TI_COUNT &&
			    topts[j].kind == TK_ELEM; j++)
				assert_field(j, elems + e * topts[i].elem_size,
				    all->vals[j][e], e);
	}
}

/* A warning names the file, the line and the option. */
static int
has_warning(const struct config *cfg, int line, const char *name)
{
	char	 w[512];
	int	 i, n = 0;

	snprintf(w, sizeof(w), "%s:%d: option '%s' is not implemented yet "
	    "and has no effect", cpath, line, name);
	for (i = 0; i < cfg->nwarnings; i++)
		n += strcmp(cfg->warnings[i], w) == 0;
	return (n);
}

START_TEST(test_roundtrip_all)
{
	struct all	*all = calloc(1, sizeof(*all));
	struct config	*cfg;
	char		 err[512], nb[64];
	int		 i, e, nwarn = 0, listactive;

	ck_assert_ptr_nonnull(all);
	write_all(cpath, all, 0);
	cfg = config_load(cpath, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->path, cpath);
	assert_all(cfg, all);
	/* One warning per inactive option set, none for elements of an
	 * inactive list (the list itself warns). */
	for (i = 0; i < TI_COUNT; i++) {
		if (topts[i].active == TA_ACTIVE || topts[i].kind == TK_GROUP)
			continue;
		if (topts[i].kind != TK_ELEM) {
			ck_assert_msg(has_warning(cfg, all->lines[i][0],
			    topts[i].path) == 1, "%s", topts[i].path);
			nwarn++;
			continue;
		}
		listactive = topts[topts[i].list].active == TA_ACTIVE;
		for (e = 0; e < all->nelem[topts[i].list]; e++) {
			ck_assert_msg(has_warning(cfg, all->lines[i][e],
			    tname(i, nb, sizeof(nb))) == listactive, "%s",
			    nb);
			nwarn += listactive;
		}
	}
	ck_assert_int_eq(cfg->nwarnings, nwarn);
	config_free(cfg);
	free(all);
}
END_TEST

/* config_dump writes what config_load reads back to the same values. */
START_TEST(test_dump_roundtrip)
{
	struct all	*all = calloc(1, sizeof(*all));
	struct config	*cfg, *again;
	char		 err[512], dpath[160];
	FILE		*fp;

	ck_assert_ptr_nonnull(all);
	write_all(cpath, all, 0);
	cfg = config_load(cpath, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	snprintf(dpath, sizeof(dpath), "%s/dump.conf", tmpdir);
	fp = fopen(dpath, "w");
	ck_assert_ptr_nonnull(fp);
	config_dump(fp, cfg);
	fclose(fp);
	again = config_load(dpath, err, sizeof(err));
	ck_assert_msg(again != NULL, "%s", err);
	assert_all(again, all);
	config_free(again);
	config_free(cfg);
	free(all);
}
END_TEST

static void
assert_defaults(const struct config *cfg)
{
	const char	*elems;
	int		 i, j, e, n;

	for (i = 0; i < TI_COUNT; i++) {
		if (topts[i].kind == TK_OPT)
			assert_default(i, cfg, 0);
		if (topts[i].kind != TK_LIST)
			continue;
		n = *(const int *)((const char *)cfg + topts[i].count_off);
		ck_assert_int_eq(n, topts[i].min_n);
		elems = *(char *const *)((const char *)cfg + topts[i].off);
		for (e = 0; e < n; e++) {
			ck_assert_int_gt(*(const int *)(elems +
			    e * topts[i].elem_size + topts[i].line_off), 0);
			for (j = i + 1; j < TI_COUNT &&
			    topts[j].kind == TK_ELEM; j++)
				assert_default(j, elems +
				    e * topts[i].elem_size, e);
		}
	}
}

START_TEST(test_defaults)
{
	struct config	*cfg;
	char		 err[512];

	cfg = load_text(MINIMAL, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	assert_defaults(cfg);
	ck_assert_int_eq(cfg->nwarnings, 0);
	ck_assert_ptr_null(cfg->warnings);
	/* The contract in plain words, for the reader. */
	ck_assert_int_eq(cfg->workers, 0);
	ck_assert_int_eq(cfg->log_level, LOG_INFO);
	ck_assert_int_eq(cfg->cache_store, CFG_CACHE_MEMORY);
	ck_assert_uint_eq(cfg->cache_size, 256ULL << 20);
	ck_assert_uint_eq(cfg->cache_redis_timeout, 50);
	ck_assert_uint_eq(cfg->timeouts_client_header, 10000);
	ck_assert_uint_eq(cfg->backends_keepalive_timeout, 60000);
	ck_assert_int_eq(cfg->listen[0].backlog, 511);
	ck_assert_int_eq(cfg->listen[0].tls, 0);
	ck_assert_int_eq(cfg->listen[0].line, 1);
	ck_assert_int_eq(cfg->backends_servers[0].weight, 1);
	ck_assert_int_eq(cfg->backends_servers[0].line, 2);
	ck_assert_int_eq(cfg->ntls_certificates, 0);
	ck_assert_ptr_null(cfg->tls_certificates);
	ck_assert_int_eq(cfg->admin_address.set, 0);
	ck_assert_ptr_null(cfg->pidfile);
	ck_assert_ptr_null(cfg->log_access);
	/* The default access-log format, compiled once, here. */
	ck_assert_ptr_nonnull(cfg->log_access_fmt);
	ck_assert_int_eq(cfg->log_access_fmt->nhdr, 2);
	ck_assert_str_eq(cfg->log_access_fmt->hdr[0], "referer");
	ck_assert_str_eq(cfg->log_access_fmt->hdr[1], "user-agent");
	config_free(cfg);
}
END_TEST

/* log.access_format is compiled with the configuration; "off" is a
 * log.access value like any path (log_open reads it as none). */
START_TEST(test_access_format)
{
	struct config	*cfg;
	char		 err[512];

	cfg = load_text(MINIMAL "log = { access = \"off\";\n"
	    "  access_format = \"$request_method ${status}x $http_x_id $$\"; };\n",
	    err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->log_access, "off");
	ck_assert_ptr_nonnull(cfg->log_access_fmt);
	ck_assert_int_eq(cfg->log_access_fmt->nops, 4);
	ck_assert_int_eq(cfg->log_access_fmt->ops[0].var, LV_REQUEST_METHOD);
	ck_assert_int_eq(cfg->log_access_fmt->ops[1].var, LV_STATUS);
	ck_assert_int_eq(cfg->log_access_fmt->ops[2].var, LV_HTTP);
	ck_assert_str_eq(cfg->log_access_fmt->hdr[0], "x-id");
	ck_assert_int_eq(cfg->log_access_fmt->ops[3].var, LV_LITERAL);
	ck_assert_int_eq(cfg->log_access_fmt->ops[3].len, 2);	/* " $" */
	config_free(cfg);
}
END_TEST

/*
 * Every default, written out explicitly, is accepted and gives what the
 * absent option gives: the defaults parse and lie in their ranges.
 */
START_TEST(test_defaults_explicit)
{
	struct all	*all = calloc(1, sizeof(*all));
	struct config	*cfg;
	char		 err[512];

	ck_assert_ptr_nonnull(all);
	write_all(cpath, all, 1);
	cfg = config_load(cpath, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	assert_all(cfg, all);
	config_free(cfg);
	free(all);
}
END_TEST

START_TEST(test_sample_loads)
{
	struct config	*cfg;
	char		 err[512];
	FILE		*fp;

	fp = fopen(cpath, "w");
	ck_assert_ptr_nonnull(fp);
	config_print_sample(fp);
	ck_assert_int_eq(fclose(fp), 0);
	cfg = config_load(cpath, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	/* Nothing the sample sets is inactive, so it loads quietly. */
	ck_assert_int_eq(cfg->nwarnings, 0);
	assert_defaults(cfg);
	ck_assert_str_eq(cfg->listen[0].address.text, "127.0.0.1:8080");
	ck_assert_str_eq(cfg->backends_servers[0].address.text,
	    "127.0.0.1:8001");
	config_free(cfg);
}
END_TEST

/* Every option appears in the man page and in the sample. */
START_TEST(test_generators_complete)
{
	char		*man = NULL, *sample = NULL, nb[128], key[160];
	size_t		 manlen, samplelen;
	const char	*dot;
	FILE		*fp;
	int		 i;

	fp = open_memstream(&man, &manlen);
	config_print_man(fp);
	fclose(fp);
	fp = open_memstream(&sample, &samplelen);
	config_print_sample(fp);
	fclose(fp);
	for (i = 0; i < TI_COUNT; i++) {
		snprintf(key, sizeof(key), ".It Ic %s Ar ",
		    tname(i, nb, sizeof(nb)));
		if (topts[i].kind != TK_GROUP || strchr(topts[i].path, '.'))
			ck_assert_msg(strstr(man, key) != NULL, "man: %s", nb);
		dot = strrchr(topts[i].path, '.');
		snprintf(key, sizeof(key), "%s = ",
		    dot != NULL ? dot + 1 : topts[i].path);
		ck_assert_msg(strstr(sample, key) != NULL, "sample: %s", key);
	}
	/* Every option is implemented since issue 7: none is marked as
	 * having no effect. */
	ck_assert_ptr_null(strstr(man, "Not implemented yet"));
	free(man);
	free(sample);
}
END_TEST

START_TEST(test_enums_match)
{
	static const struct {
		const char	*text;
		int		 level;
	} levels[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO },
		{ "notice", LOG_NOTICE }, { "warn", LOG_WARN },
		{ "error", LOG_ERR },
	};
	static const struct {
		const char	*text;
		int		 store;
	} stores[] = {
		{ "memory", CFG_CACHE_MEMORY }, { "redis", CFG_CACHE_REDIS },
		{ "off", CFG_CACHE_OFF },
	};
	struct config	*cfg;
	char		 text[512], err[512];
	size_t		 i;

	ck_assert_int_eq(CFG_LOG_ERROR, LOG_ERR);
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL
		    "log = { level = \"%s\"; };\n", levels[i].text);
		cfg = load_text(text, err, sizeof(err));
		ck_assert_msg(cfg != NULL, "%s", err);
		ck_assert_int_eq(cfg->log_level, levels[i].level);
		config_free(cfg);
	}
	for (i = 0; i < sizeof(stores) / sizeof(stores[0]); i++) {
		snprintf(text, sizeof(text), MINIMAL
		    "cache = { store = \"%s\"; };\n", stores[i].text);
		cfg = load_text(text, err, sizeof(err));
		ck_assert_msg(cfg != NULL, "%s", err);
		ck_assert_int_eq(cfg->cache_store, stores[i].store);
		/* Active; "redis" warns at start-up (main.c), not here. */
		ck_assert_int_eq(cfg->nwarnings, 0);
		config_free(cfg);
	}
}
END_TEST

/* Integers where sizes and durations are expected: bytes and seconds. */
START_TEST(test_numbers)
{
	struct config	*cfg;
	char		 err[512];

	cfg = load_text("listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "backends = { servers = ( { address = \"127.0.0.1:8001\"; } );\n"
	    "  keepalive_timeout = 3600; keepalive = 0; };\n"
	    "limits = { header_size = 2048; body_size = 0; };\n"
	    "timeouts = { client_idle = 5; backend_connect = \"250ms\"; };\n"
	    "workers = 256;\n", err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_uint_eq(cfg->limits_header_size, 2048);
	ck_assert_uint_eq(cfg->limits_body_size, 0);
	ck_assert_uint_eq(cfg->timeouts_client_idle, 5000);
	ck_assert_uint_eq(cfg->timeouts_backend_connect, 250);
	ck_assert_uint_eq(cfg->backends_keepalive_timeout, 3600000);
	ck_assert_int_eq(cfg->backends_keepalive, 0);
	ck_assert_int_eq(cfg->workers, 256);
	config_free(cfg);
}
END_TEST

/* A single group where a list is expected is a list of one. */
START_TEST(test_lone_group)
{
	struct config	*cfg;
	char		 err[512];

	cfg = load_text("listen = { address = \"[::1]:8080\"; };\n"
	    "backends = { servers = { address = \"localhost:8001\"; }; };\n",
	    err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->nlisten, 1);
	ck_assert_int_eq(cfg->listen[0].address.ss.ss_family, AF_INET6);
	ck_assert_int_eq(cfg->nbackends_servers, 1);
	config_free(cfg);
}
END_TEST

START_TEST(test_include)
{
	struct config	*cfg;
	char		 err[512], inc[160], text[512];

	snprintf(inc, sizeof(inc), "%s/inc.conf", tmpdir);
	write_file(inc, "\nworkers = 999;\n");
	snprintf(text, sizeof(text), MINIMAL "@include \"inc.conf\"\n");
	cfg = load_text(text, err, sizeof(err));
	ck_assert_ptr_null(cfg);
	/* The error names the included file and its line. */
	snprintf(text, sizeof(text), "%s:2: option 'workers' must be "
	    "between 0 and 256", inc);
	ck_assert_str_eq(err, text);
}
END_TEST

START_TEST(test_restart_needed)
{
	struct config	*a, *b;
	char		 err[512];

	a = load_text(MINIMAL "workers = 2;\nlog = { level = \"warn\"; };\n",
	    err, sizeof(err));
	ck_assert_msg(a != NULL, "%s", err);
	/* Reloadable changes only: nothing needs a restart. */
	b = load_text("listen = ( { address = \"127.0.0.1:9090\"; } );\n"
	    "backends = { servers = ( { address = \"127.0.0.1:8001\"; } ); };\n"
	    "workers = 2;\n", err, sizeof(err));
	ck_assert_msg(b != NULL, "%s", err);
	ck_assert_ptr_null(config_restart_needed(a, b));
	config_free(b);
	b = load_text(MINIMAL "workers = 3;\n", err, sizeof(err));
	ck_assert_msg(b != NULL, "%s", err);
	ck_assert_str_eq(config_restart_needed(a, b), "workers");
	config_free(b);
	b = load_text(MINIMAL "workers = 2;\nuser = \"nobody\";\n", err,
	    sizeof(err));
	ck_assert_msg(b != NULL, "%s", err);
	ck_assert_str_eq(config_restart_needed(a, b), "user");
	ck_assert_str_eq(config_restart_needed(b, a), "user");
	ck_assert_ptr_null(config_restart_needed(b, b));
	config_free(b);
	config_free(a);
}
END_TEST

struct bad {
	const char	*text;
	const char	*err;	/* after "FILE:" */
};

static const struct bad bad[] = {
	/* syntax */
	{ "workers = 1;\nlisten = ( { address = ; } );\n",
	    "2: syntax error: syntax error" },
	{ "workers = 1;\nlog = { level = \"info\"\n", 
	    "3: syntax error: syntax error" },
	{ MINIMAL "workers = 1;\nworkers = 2;\n",
	    "4: syntax error: duplicate setting name" },
	/* unknown */
	{ MINIMAL "\nworkerz = 2;\n",
	    "4: unknown option 'workerz' (did you mean 'workers'?)" },
	{ "listen = ( { address = \"127.0.0.1:80\"; } );\n"
	    "backends = {\n  servr = ( { address = \"1.2.3.4:5\"; } );\n};\n",
	    "3: unknown option 'backends.servr' (did you mean "
	    "'backends.servers'?)" },
	{ "listen = ( { address = \"127.0.0.1:80\";\n  adress = \"x\"; } );\n",
	    "2: unknown option 'listen[].adress' (did you mean "
	    "'listen[].address'?)" },
	{ MINIMAL "lgo = { level = \"info\"; };\n",
	    "3: unknown option 'lgo' (did you mean 'log'?)" },
	{ MINIMAL "frobnicate = 1;\n", "3: unknown option 'frobnicate'" },
	{ MINIMAL "log = { colour = true; };\n",
	    "3: unknown option 'log.colour'" },
	/* types */
	{ MINIMAL "workers = \"4\";\n",
	    "3: option 'workers' must be an integer" },
	{ MINIMAL "workers = 1.5;\n",
	    "3: option 'workers' must be an integer" },
	{ MINIMAL "daemon = 1;\n", "3: option 'daemon' must be true or false" },
	{ MINIMAL "pidfile = 1;\n", "3: option 'pidfile' must be a string" },
	{ MINIMAL "log = 1;\n", "3: option 'log' must be a group { ... }" },
	{ MINIMAL "log = { level = 2; };\n",
	    "3: option 'log.level' must be one of \"debug\", \"info\", "
	    "\"notice\", \"warn\", \"error\"" },
	{ MINIMAL "limits = { header_size = true; };\n",
	    "3: option 'limits.header_size' must be a size, e.g. \"16K\" or "
	    "a number of bytes" },
	{ MINIMAL "timeouts = { shutdown = [1]; };\n",
	    "3: option 'timeouts.shutdown' must be a duration, e.g. "
	    "\"500ms\" or a number of seconds" },
	{ MINIMAL "admin = { address = 8081; };\n",
	    "3: option 'admin.address' must be an address string, e.g. "
	    "\"127.0.0.1:8080\"" },
	{ "listen = \"127.0.0.1:80\";\n",
	    "1: option 'listen' must be a list of groups: ( { ... }, ... )" },
	{ "listen = ( \"127.0.0.1:80\" );\n",
	    "1: each element of 'listen' must be a group { ... }" },
	/* ranges */
	{ MINIMAL "workers = 257;\n",
	    "3: option 'workers' must be between 0 and 256" },
	{ MINIMAL "workers = -1;\n",
	    "3: option 'workers' must be between 0 and 256" },
	{ MINIMAL "workers = 9999999999999;\n",
	    "3: option 'workers' must be between 0 and 256" },
	{ MINIMAL "limits = { header_size = \"2M\"; };\n",
	    "3: option 'limits.header_size' must be between 1K and 1M" },
	{ MINIMAL "limits = { header_size = 1023; };\n",
	    "3: option 'limits.header_size' must be between 1K and 1M" },
	{ MINIMAL "limits = { body_size = -1; };\n",
	    "3: option 'limits.body_size' must be between 0 and 1T" },
	{ MINIMAL "timeouts = { client_idle = \"0ms\"; };\n",
	    "3: option 'timeouts.client_idle' must be between 1ms and 1d" },
	{ MINIMAL "timeouts = { client_idle = 86401; };\n",
	    "3: option 'timeouts.client_idle' must be between 1ms and 1d" },
	{ MINIMAL "timeouts = { client_idle = 9223372036854775807; };\n",
	    "3: option 'timeouts.client_idle' must be between 1ms and 1d" },
	{ "listen = ( { address = \"127.0.0.1:80\"; backlog = 0; } );\n",
	    "1: option 'listen[].backlog' must be between 1 and 65535" },
	{ MINIMAL "cache = { size = \"100K\"; };\n",
	    "3: option 'cache.size' must be between 1M and 1T" },
	/* bad strings */
	{ MINIMAL "limits = { header_size = \"16 K\"; };\n",
	    "3: option 'limits.header_size' has an invalid size \"16 K\" "
	    "(e.g. \"512\", \"16K\", \"256M\", \"1G\")" },
	{ MINIMAL "timeouts = { client_idle = \"5 min\"; };\n",
	    "3: option 'timeouts.client_idle' has an invalid duration "
	    "\"5 min\" (e.g. \"500ms\", \"2s\", \"1m\", \"1h\")" },
	{ "listen = ( { address = \"example.com:80\"; } );\n",
	    "1: option 'listen[].address' has an invalid address "
	    "\"example.com:80\": host must be a numeric address, '*' or "
	    "localhost" },
	{ "listen = ( { address = \"127.0.0.1:0\"; } );\n",
	    "1: option 'listen[].address' has an invalid address "
	    "\"127.0.0.1:0\": port must be between 1 and 65535" },
	{ "listen = ( { address = \"127.0.0.1\"; } );\n",
	    "1: option 'listen[].address' has an invalid address "
	    "\"127.0.0.1\": missing port" },
	{ MINIMAL "log = { level = \"verbose\"; };\n",
	    "3: option 'log.level' must be one of \"debug\", \"info\", "
	    "\"notice\", \"warn\", \"error\"" },
	{ MINIMAL "cache = { control_field = \"Vane Cache\"; };\n",
	    "3: option 'cache.control_field' must be a field name (letters, "
	    "digits, '-')" },
	{ MINIMAL "cache = { tag_fields = \" , \"; };\n",
	    "3: option 'cache.tag_fields' must name at least one" },
	{ MINIMAL "cache = { key = { fields = \"Accept;Language\"; }; };\n",
	    "3: option 'cache.key.fields' must be names separated by commas" },
	{ "listen = ( { address = \"127.0.0.1:80\"; } );\n"
	    "backends = { servers = ( { address = \"127.0.0.1:81\"; } );\n"
	    "  health = { status = \"2xx\"; }; };\n",
	    "3: option 'backends.health.status' expected a status code from 100 "
	    "to 599" },
	{ MINIMAL "tls = { protocols = \"SSLv3\"; };\n",
	    "3: option 'tls.protocols' must be one of \"TLSv1.2+\", "
	    "\"TLSv1.3\", \"TLSv1.2\"" },
	{ "listen = ( { address = \"127.0.0.1:80\"; } );\n"
	    "backends = { servers = ( { address = \"127.0.0.1:81\"; } );\n"
	    "  health = { path = \"health\"; }; };\n",
	    "3: option 'backends.health.path' must start with '/'" },
	{ "listen = ( { address = \"127.0.0.1:80\"; } );\n"
	    "backends = { servers = ( { address = \"127.0.0.1:81\"; } );\n"
	    "  health = { path = \"/health check\"; }; };\n",
	    "3: option 'backends.health.path' must not contain spaces, "
	    "control or non-ASCII characters" },
	{ "listen = ( { address = \"127.0.0.1:80\"; } );\n"
	    "backends = { servers = ( { address = \"127.0.0.1:81\"; } );\n"
	    "  health = { path = \"/h\"; host = \"a\\r\\nX: y\"; }; };\n",
	    "3: option 'backends.health.host' must be a host name without "
	    "spaces, control or non-ASCII characters" },
	{ MINIMAL "cache = { redis = { address = \"redis\"; }; };\n",
	    "3: option 'cache.redis.address' must be \"host:port\" or "
	    "\"unix:/path\" (a Unix socket)" },
	{ MINIMAL "cache = { redis = { address = \"unix:r.sock\"; }; };\n",
	    "3: option 'cache.redis.address' must be \"host:port\" or "
	    "\"unix:/path\" (a Unix socket)" },
	{ MINIMAL "log = { access_format = \"$remote_addr $foo\"; };\n",
	    "3: option 'log.access_format' has an unknown variable $foo" },
	{ MINIMAL "log = {\n  access_format = \"[$time_local] $\"; };\n",
	    "4: option 'log.access_format' ends with '$' (write $$ for a "
	    "'$')" },
	{ MINIMAL "log = { access_format = \"${status\"; };\n",
	    "3: option 'log.access_format' has '${' without its '}'" },
	/* duplicates */
	{ "listen = ( { address = \"127.0.0.1:8080\"; },\n"
	    "  { address = \"[::1]:8080\"; },\n"
	    "  { address = \"localhost:8080\"; } );\n",
	    "3: duplicate listen address localhost:8080 (first at line 1)" },
	{ "listen = ( { address = \"*:80\"; } );\n"
	    "backends = { servers = (\n"
	    "  { address = \"127.0.0.1:8001\"; },\n"
	    "  { address = \"127.0.0.1:8002\"; },\n"
	    "  { address = \"127.0.0.1:8001\"; weight = 2; }\n"
	    "); };\n",
	    "5: duplicate backend server address 127.0.0.1:8001 "
	    "(first at line 3)" },
	/* admin: off loopback only with a token, never on a listen port */
	{ MINIMAL "admin = {\n  address = \"*:8081\"; };\n",
	    "4: admin.address: *:8081 is not loopback: set admin.token (or "
	    "admin.token_file), or whoever reaches it can drain servers and "
	    "purge the cache" },
	{ MINIMAL "admin = { address = \"[::]:8081\"; token = \"\"; };\n",
	    "3: option 'admin.token' must start with a letter, a digit or one "
	    "of -._~+/" },
	{ MINIMAL "admin = { address = \"10.1.2.3:8081\"; };\n",
	    "3: admin.address: 10.1.2.3:8081 is not loopback: set "
	    "admin.token (or admin.token_file), or whoever reaches it can "
	    "drain servers and purge the cache" },
	{ MINIMAL "admin = { token = \"a\";\n  token_file = \"/t\"; };\n",
	    "4: admin.token_file: set admin.token or admin.token_file, not "
	    "both" },
	{ MINIMAL "admin = {\n  token_file = \"/nonexistent/t\"; };\n",
	    "4: admin.token_file: cannot read /nonexistent/t: No such file or "
	    "directory" },
	{ MINIMAL "admin = { token = \"a b\"; };\n",
	    "3: option 'admin.token' must be letters, digits and -._~+/, with "
	    "'=' only at the end (RFC 6750 b64token)" },
	{ MINIMAL "admin = { token = \"" TOKEN512 "a\"; };\n",
	    "3: option 'admin.token' must be at most 512 characters" },
	{ MINIMAL "admin = { token = \"abc=d\"; };\n",
	    "3: option 'admin.token' must be letters, digits and -._~+/, with "
	    "'=' only at the end (RFC 6750 b64token)" },
	{ MINIMAL "admin = { address = \"localhost:8080\"; };\n",
	    "3: admin.address: localhost:8080 takes the port of listen "
	    "address 127.0.0.1:8080 (line 1)" },
	{ "listen = ( { address = \"127.0.0.1:80\"; },\n"
	    "  { address = \"*:8081\"; } );\n"
	    "backends = { servers = ( { address = \"127.0.0.1:81\"; } ); };\n"
	    "admin = { address = \"127.0.0.1:8081\"; };\n",
	    "4: admin.address: 127.0.0.1:8081 takes the port of listen "
	    "address *:8081 (line 2)" },
	/* missing */
	{ "workers = 1;\n\n", "2: missing required option 'listen'" },
	{ "", "1: missing required option 'listen'" },
	{ "# nothing\nworkers = 1;", "2: missing required option 'listen'" },
	{ "listen = ( { address = \"*:80\"; } );\n"
	    "log = { level = \"info\"; };\n"
	    "backends = {\n  keepalive = 1;\n};\n",
	    "3: missing required option 'backends.servers'" },
	{ "listen = ( { address = \"*:80\"; } );\n\n\n",
	    "3: missing required option 'backends.servers'" },
	{ "listen = ( );\n", "1: option 'listen' needs at least 1 element" },
	{ "listen = ( {\n  backlog = 5; } );\n",
	    "1: missing required option 'listen[].address'" },
	{ MINIMAL "tls = { certificates = ( { cert = \"a\"; } ); };\n",
	    "3: missing required option 'tls.certificates[].key'" },
};

START_TEST(test_errors)
{
	struct config	*cfg;
	char		 err[512], want[1024];

	cfg = load_text(bad[_i].text, err, sizeof(err));
	if (cfg != NULL)
		config_free(cfg);
	ck_assert_msg(cfg == NULL, "accepted: %s", bad[_i].text);
	snprintf(want, sizeof(want), "%s:%s", cpath, bad[_i].err);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_too_many_servers)
{
	struct config	*cfg;
	char		*text, err[512], want[512];
	size_t		 o = 0, len = 16384;
	int		 i;

	text = malloc(len);
	ck_assert_ptr_nonnull(text);
	o += snprintf(text + o, len - o, "listen = ( { address = \"*:80\"; "
	    "} );\nbackends = { servers = (\n");
	for (i = 0; i < 65; i++)
		o += snprintf(text + o, len - o, "%s{ address = "
		    "\"127.0.0.1:%d\"; }\n", i > 0 ? "," : "", 2000 + i);
	snprintf(text + o, len - o, "); };\n");
	cfg = load_text(text, err, sizeof(err));
	ck_assert_ptr_null(cfg);
	snprintf(want, sizeof(want), "%s:2: option 'backends.servers' has "
	    "65 elements, at most 64 are allowed", cpath);
	ck_assert_str_eq(err, want);
	/* 64 is fine. */
	strcpy(strstr(text, ",{ address = \"127.0.0.1:2064\"; }"),
	    "); };\n");
	cfg = load_text(text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->nbackends_servers, 64);
	config_free(cfg);
	free(text);
}
END_TEST

START_TEST(test_open_errors)
{
	char	 err[512], want[512];

	snprintf(want, sizeof(want), "%s/nope.conf: cannot open: %s", tmpdir,
	    strerror(ENOENT));
	snprintf(cpath, sizeof(cpath), "%s/nope.conf", tmpdir);
	ck_assert_ptr_null(config_load(cpath, err, sizeof(err)));
	ck_assert_str_eq(err, want);
	snprintf(want, sizeof(want), "%s: cannot read: %s", tmpdir,
	    strerror(EISDIR));
	ck_assert_ptr_null(config_load(tmpdir, err, sizeof(err)));
	ck_assert_str_eq(err, want);
	/* A short or missing buffer truncates, never overflows. */
	ck_assert_ptr_null(config_load(tmpdir, err, 4));
	ck_assert_str_eq(err, "/tm");
	ck_assert_ptr_null(config_load(tmpdir, NULL, 0));
	snprintf(cpath, sizeof(cpath), "%s/vane.conf", tmpdir);
}
END_TEST

struct warned {
	const char	*text;
	int		 n;
	int		 line;	/* of the first warning */
	const char	*name;
};

static const struct warned warned[] = {
	{ "listen = ( { address = \"*:80\"; tls = false; } );\n", 0, 0, NULL },
	/* Implemented (issue 7): no warning any more. */
	{ "listen = ( { address = \"*:80\"; tls = true; } );\n", 0, 0, NULL },
	{ "listen = ( { address = \"*:80\"; },\n{ address = \"*:81\";\n"
	    "tls = true; } );\n", 0, 0, NULL },
	{ "backends = { servers = ( { address = \"*:80\"; weight = 1; } ); "
	    "};\n", 0, 0, NULL },
	{ "backends = { servers = ( { address = \"*:80\";\nweight = 5; } ); "
	    "};\n", 0, 0, NULL },
	{ "tls = {\ncertificates = ( { cert = \"a\"; key = \"b\"; },\n"
	    "{ cert = \"c\"; key = \"d\"; } ); };\n", 0, 0, NULL },
	{ "tls = { certificates = (); };\n", 0, 0, NULL },
	{ "cache = {\n  store = \"memory\"; };\n", 0, 0, NULL },
	/* Implemented (issue 6): no warning any more. */
	{ "cache = { redis = {\n timeout = \"20ms\"; }; };\n", 0, 0, NULL },
	{ "admin = { address = \"127.0.0.1:8081\"; };\n", 0, 0, NULL },
	{ "cache = { };\nadmin = { };\n", 0, 0, NULL },
	/* Off loopback with a token; the longest token; '=' padding. */
	{ "admin = { address = \"*:8081\"; token = \"s3cr+t/x~Y_.-==\"; };\n",
	    0, 0, NULL },
	{ "admin = { address = \"[::]:8081\";\ntoken = \"" TOKEN512 "\"; };\n",
	    0, 0, NULL },
	{ "backends = { servers = ( { address = \"1.1.1.1:2\"; } );\n"
	    "health = { rise = 2; fall = 3; }; };\n", 0, 0, NULL },
};

/*
 * warned[] texts are appended to a file holding listen and backends
 * separately, so those sections can be what a case is about.
 */
START_TEST(test_warnings)
{
	struct config	*cfg;
	char		 text[1024], err[512], want[512];
	const char	*listen = "listen = ( { address = \"1.1.1.1:1\"; } );\n";
	const char	*backends = "backends = { servers = ( { address = "
	    "\"1.1.1.1:2\"; } ); ";

	/* Put the case first so its lines are the file's lines. */
	if (strncmp(warned[_i].text, "listen", 6) == 0)
		snprintf(text, sizeof(text), "%s%s};\n", warned[_i].text,
		    backends);
	else if (strncmp(warned[_i].text, "backends", 8) == 0)
		snprintf(text, sizeof(text), "%s%s", warned[_i].text, listen);
	else
		snprintf(text, sizeof(text), "%s%s%s};\n", warned[_i].text,
		    listen, backends);
	cfg = load_text(text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(cfg->nwarnings, warned[_i].n);
	if (warned[_i].n > 0) {
		snprintf(want, sizeof(want), "%s:%d: option '%s' is not "
		    "implemented yet and has no effect", cpath,
		    warned[_i].line, warned[_i].name);
		ck_assert_str_eq(cfg->warnings[0], want);
	}
	config_free(cfg);
}
END_TEST

/* The first line of admin.token_file is the token, checked as one. */
START_TEST(test_token_file)
{
	struct config	*cfg, *cfg2;
	char		 text[512], err[512], want[512];

	snprintf(text, sizeof(text), MINIMAL "admin = { address = "
	    "\"*:8081\";\n  token_file = \"%s\"; };\n", tokpath);
	cfg = load_text(text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_str_eq(cfg->admin_secret, FILE_TOKEN);
	ck_assert_ptr_null(cfg->admin_token);
	/* Another token in the same file needs a restart. */
	write_file(tokpath, "other\r\n");
	cfg2 = load_text(text, err, sizeof(err));
	ck_assert_msg(cfg2 != NULL, "%s", err);
	ck_assert_str_eq(cfg2->admin_secret, "other");
	ck_assert_str_eq(config_restart_needed(cfg, cfg2),
	    "admin.token_file");
	config_free(cfg2);
	/* Bad content: the reason, never the content. */
	write_file(tokpath, "not a token\n");
	ck_assert_ptr_null(load_text(text, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:4: admin.token_file: the first line "
	    "of %s must be letters, digits and -._~+/, with '=' only at the "
	    "end (RFC 6750 b64token)", cpath, tokpath);
	ck_assert_str_eq(err, want);
	write_file(tokpath, "");
	ck_assert_ptr_null(load_text(text, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:4: admin.token_file: the first line "
	    "of %s must start with a letter, a digit or one of -._~+/", cpath,
	    tokpath);
	ck_assert_str_eq(err, want);
	/* admin.token gives the same secret. */
	cfg2 = load_text(MINIMAL "admin = { address = \"*:8081\"; token = \""
	    FILE_TOKEN "\"; };\n", err, sizeof(err));
	ck_assert_msg(cfg2 != NULL, "%s", err);
	ck_assert_str_eq(cfg2->admin_secret, FILE_TOKEN);
	config_free(cfg2);
	config_free(cfg);
}
END_TEST

/* vane -t: files read and written, named by FILE:LINE of their option. */
START_TEST(test_check_files)
{
	struct config	*cfg;
	char		 text[2048], err[1024], want[1024], f[4][160];
	int		 i;

	for (i = 0; i < 4; i++)
		snprintf(f[i], sizeof(f[i]), "%s/f%d", tmpdir, i);
	snprintf(text, sizeof(text), MINIMAL "tls = { certificates = (\n"
	    "  { cert = \"%s\"; key = \"%s\"; } ); };\n"
	    "log = {\n  error = \"%s/e.log\";\n  access = \"%s/no/a.log\"; };\n"
	    "pidfile = \"%s/x\";\n", f[0], f[1], tmpdir, tmpdir, f[2]);
	cfg = load_text(text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	/* Unused certificates (no TLS listener) must still be there. */
	ck_assert_int_eq(config_check_files(cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: tls.certificates[].cert: cannot "
	    "read certificate %s: %s", cpath, f[0], strerror(ENOENT));
	ck_assert_str_eq(err, want);
	write_file(f[0], "c");
	ck_assert_int_eq(config_check_files(cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: tls.certificates[].key: cannot "
	    "read key %s: %s", cpath, f[1], strerror(ENOENT));
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(mkdir(f[1], 0700), 0);
	ck_assert_int_eq(config_check_files(cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: tls.certificates[].key: cannot "
	    "read key %s: %s", cpath, f[1], strerror(EISDIR));
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(rmdir(f[1]), 0);
	write_file(f[1], "k");
	/* A log in a directory that is not there. */
	ck_assert_int_eq(config_check_files(cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:7: log.access: cannot create "
	    "%s/no/a.log: directory %s/no: %s", cpath, tmpdir, tmpdir,
	    strerror(ENOENT));
	ck_assert_str_eq(err, want);
	config_free(cfg);
	/* A pidfile under a regular file; a log that is a directory. */
	snprintf(strstr(text, "/no/a.log"), sizeof(text) - (size_t)(strstr(
	    text, "/no/a.log") - text), "/a.log\"; };\npidfile = \"%s/x\";\n",
	    f[2]);
	write_file(f[2], "");
	cfg = load_text(text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(config_check_files(cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:8: pidfile: cannot write %s/x: %s",
	    cpath, f[2], strerror(ENOTDIR));
	ck_assert_str_eq(err, want);
	config_free(cfg);
	snprintf(strstr(text, "pidfile"), sizeof(text) - (size_t)(strstr(
	    text, "pidfile") - text), "pidfile = \"%s\";\n", tmpdir);
	cfg = load_text(text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_int_eq(config_check_files(cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:8: pidfile: cannot write %s: %s",
	    cpath, tmpdir, strerror(EISDIR));
	ck_assert_str_eq(err, want);
	config_free(cfg);
	/* All there: fine, and nothing was created. */
	snprintf(strstr(text, "pidfile"), sizeof(text) - (size_t)(strstr(
	    text, "pidfile") - text), "pidfile = \"%s\";\n", f[3]);
	cfg = load_text(text, err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_msg(config_check_files(cfg, err, sizeof(err)) == 0, "%s",
	    err);
	ck_assert_int_eq(access(f[3], F_OK), -1);
	config_free(cfg);
	for (i = 0; i < 3; i++)
		unlink(f[i]);
}
END_TEST

START_TEST(test_summary)
{
	struct config	*cfg;
	char		 err[512], *out = NULL;
	size_t		 len = 0;
	FILE		*fp;

	cfg = load_text("workers = 3;\n"
	    "listen = ( { address = \"*:80\"; redirect_https = true; },\n"
	    "  { address = \"127.0.0.1:443\"; tls = true; } );\n"
	    "tls = { certificates = ( { cert = \"c\"; key = \"k\"; } ); };\n"
	    "backends = { servers = ( { address = \"127.0.0.1:8001\"; },\n"
	    "  { address = \"127.0.0.1:8002\"; weight = 3; max_conns = 2; } );\n"
	    "  health = { path = \"/hc\"; interval = \"5s\"; }; };\n"
	    "cache = { size = \"64M\"; };\n"
	    "admin = { address = \"[::]:8081\"; token = \"t0k3n\"; };\n",
	    err, sizeof(err));
	ck_assert_msg(cfg != NULL, "%s", err);
	fp = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(fp);
	config_summary(fp, cfg);
	fclose(fp);
	ck_assert_str_eq(out,
	    "listen:\n"
	    "  *:80                     plain, redirects to https\n"
	    "  127.0.0.1:443            tls\n"
	    "tls: 1 certificate, TLSv1.2+\n"
	    "backends: round_robin, 1 retry, health GET /hc every 5s\n"
	    "  127.0.0.1:8001           weight 1\n"
	    "  127.0.0.1:8002           weight 3, max_conns 2\n"
	    "cache: memory, 64M, objects up to 8M\n"
	    "admin: [::]:8081, token required\n"
	    "workers: 3\n"
	    "log: error to standard error, access off, level info\n"
	    "process: foreground, no pidfile, user unchanged\n");
	/* The token is a secret: the summary only says there is one. */
	ck_assert_ptr_null(strstr(out, "t0k3n"));
	free(out);
	config_free(cfg);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc;

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip_all);
	tcase_add_test(tc, test_dump_roundtrip);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_access_format);
	tcase_add_test(tc, test_defaults_explicit);
	tcase_add_test(tc, test_sample_loads);
	tcase_add_test(tc, test_generators_complete);
	tcase_add_test(tc, test_enums_match);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_lone_group);
	tcase_add_test(tc, test_include);
	tcase_add_test(tc, test_too_many_servers);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_restart_needed);
	tcase_add_test(tc, test_check_files);
	tcase_add_test(tc, test_token_file);
	tcase_add_test(tc, test_summary);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_errors, 0, sizeof(bad) / sizeof(bad[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("warnings");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_warnings, 0,
	    sizeof(warned) / sizeof(warned[0]));
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(config_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
