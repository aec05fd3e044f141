/*
 * config.c: the configuration file (L1). Owns the descriptor table expanded
 * from options.def, the loader and its validation (libconfig does the
 * syntax, we do the schema), and the generators of the OPTIONS section of
 * vane.conf(5), of etc/vane.conf and of the effective configuration.
 * Nothing here but libc, libconfig and util.h: see check-layers.sh.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libconfig.h>

#include "config.h"
#include "log_format.h"
#include "util.h"

enum opt_kind { K_GROUP, K_OPT, K_LIST, K_ELEM };
enum opt_type {
	T_NONE, T_BOOL, T_INT, T_SIZE, T_DURATION, T_STRING, T_ENUM, T_ADDRESS
};
enum { R_RESTART, R_RELOAD };
enum { A_ACTIVE, A_LATER, A_LATER_IF_CHANGED };
enum { N_OPTIONAL, N_REQUIRED };

struct opt {
	enum opt_kind	 kind;
	const char	*path;	/* dotted; K_ELEM: the key inside an element */
	enum opt_type	 type;
	const char	*def;	/* as written in a file; NULL: unset */
	const char	*min, *max, *choices, *example;
	const char	*(*check)(const char *);
	int		 reload, active, required;
	size_t		 off;	/* in struct config; K_ELEM: in the element */
	size_t		 count_off, elem_size, line_off;	/* K_LIST */
	int		 min_n, max_n;				/* K_LIST */
	const char	*what;					/* K_LIST */
	int		 list;	/* K_ELEM: index of its K_LIST */
	const char	*doc;
};

static const char	*check_abs_path(const char *);
static const char	*check_redis_address(const char *);
static const char	*check_status_list(const char *);
static const char	*check_field_name(const char *);
static const char	*check_field_list(const char *);
static const char	*check_host_name(const char *);
static const char	*check_hsts(const char *);
static const char	*check_token(const char *);
static const char	*check_access_format(const char *);

/* Index of every row, so an element can name its list. */
enum {
#define GROUP(id, ...)		OI_##id,
#define OPT(id, ...)		OI_##id,
#define LIST(id, ...)		OI_##id,
#define ELEM(list, name, ...)	OI_##list##_##name,
#define END_LIST(list)
#include "options.def"
#undef GROUP
#undef OPT
#undef LIST
#undef ELEM
#undef END_LIST
	OI_COUNT
};

#define ELEM_TYPE(list)	__typeof__(*((struct config *)0)->list)

static const struct opt opts[OI_COUNT] = {
#define GROUP(id, p, d)	{ .kind = K_GROUP, .path = p, .doc = d },
#define OPT(id, p, t, df, mn, mx, ch, ex, ck, rl, ac, d)		\
	{ .kind = K_OPT, .path = p, .type = T_##t, .def = df, .min = mn,	\
	  .max = mx, .choices = ch, .example = ex, .check = ck,		\
	  .reload = R_##rl, .active = A_##ac,				\
	  .off = offsetof(struct config, id), .doc = d },
#define LIST(id, p, el, wh, mn, mx, rl, ac, d)				\
	{ .kind = K_LIST, .path = p, .what = wh, .min_n = mn, .max_n = mx,	\
	  .reload = R_##rl, .active = A_##ac,				\
	  .off = offsetof(struct config, id),				\
	  .count_off = offsetof(struct config, n##id),			\
	  .elem_size = sizeof(struct cfg_##el),				\
	  .line_off = offsetof(struct cfg_##el, line), .doc = d },
#define ELEM(l, n, t, df, mn, mx, ch, ex, ck, nd, ac, d)		\
	{ .kind = K_ELEM, .path = #n, .type = T_##t, .def = df, .min = mn,	\
	  .max = mx, .choices = ch, .example = ex, .check = ck,		\
	  .required = N_##nd, .active = A_##ac, .list = OI_##l,		\
	  .off = offsetof(ELEM_TYPE(l), n), .doc = d },
#define END_LIST(list)
#include "options.def"
#undef GROUP
#undef OPT
#undef LIST
#undef ELEM
#undef END_LIST
};

struct loader {
	const char	*path;
	char		*err;
	size_t		 errlen;
	struct config	*cfg;
	config_t	 lc;
	int		 lastline;
	char		 dir[1024];	/* of path, for @include */
	char		 file[1280];	/* setting_file()'s buffer */
};

#define FIELD(base, d)	((void *)((char *)(base) + (d)->off))

/* A byte a request line or a field value vane writes cannot carry as is
 * (RFC 9112 §3.2, RFC 9110 §5.5): controls, space, DEL, non-ASCII. */
static int
has_unsafe_byte(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return (1);
	return (0);
}

/* Compiled here only to find its errors; config_load keeps the one it
 * compiles after every option is read. */
static const char *
check_access_format(const char *s)
{
	static char		 buf[192];
	struct log_format	*f;
	const char		*why;

	if ((f = log_format_compile(s, buf, sizeof(buf), &why)) == NULL)
		return (why != NULL ? why : "cannot be compiled: out of memory");
	log_format_free(f);
	return (NULL);
}

static const char *
check_abs_path(const char *s)
{
	if (s[0] != '/')
		return ("must start with '/'");
	return (has_unsafe_byte(s) ? "must not contain spaces, control or "
	    "non-ASCII characters" : NULL);
}

static const char *
check_host_name(const char *s)
{
	return (s[0] == '\0' || has_unsafe_byte(s) ? "must be a host name "
	    "without spaces, control or non-ASCII characters" : NULL);
}

/* RFC 6797 §6.1: max-age=N, then ";"-separated directives; one line. */
static const char *
check_hsts(const char *s)
{
	const char *p = s;
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			break;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "max-age=", 8) != 0 || p[8] < '0' || p[8] > '9' ||
	    s[i] != '\0' || i > 256)
		return ("must start with max-age=SECONDS, e.g. "
		    "\"max-age=63072000; includeSubDomains\", on one line");
	return (NULL);
}

/* RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
 * "+" / "/" ) *"=". Bounded so that vane -s can always send it. */
static const char *
check_token(const char *s)
{
	size_t	 n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~+/");

	if (n == 0)
		return ("must start with a letter, a digit or one of -._~+/");
	n += strspn(s + n, "=");
	if (s[n] != '\0')
		return ("must be letters, digits and -._~+/, with '=' only at "
		    "the end (RFC 6750 b64token)");
	if (n > 512)
		return ("must be at most 512 characters");
	return (NULL);
}

static const char *
check_redis_address(const char *s)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const char		*why;

	/* A Unix socket ("unix:/path", or the bare path), or host:port as
	 * for every other address (numeric: no DNS on the event loop). */
	if (strncmp(s, "unix:", 5) == 0 ? s[5] == '/' : (s[0] == '/' ||
	    parse_address(s, &ss, &len, &why) == 0))
		return (NULL);
	return ("must be \"host:port\" or \"unix:/path\" (a Unix socket)");
}

static const char *
check_status_list(const char *s)
{
	struct status_set	 set;
	const char		*why;

	return (parse_status_set(s, &set, &why) == 0 ? NULL : why);
}

/* tchar of RFC 9110 section 5.6.2. */
static int
is_tchar(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL));
}

/* A field name: one token (RFC 9110 section 5.1). */
static const char *
check_field_name(const char *s)
{
	const char *p;

	if (*s == '\0')
		return ("must not be empty");
	for (p = s; *p != '\0'; p++)
		if (!is_tchar((unsigned char)*p))
			return ("must be a field name (letters, digits, '-')");
	return (NULL);
}

/* Tokens separated by commas and spaces: field names, query parameters. */
static const char *
check_field_list(const char *s)
{
	const char *p;
	int n = 0;

	for (p = s; *p != '\0'; p++) {
		if (*p == ',' || *p == ' ')
			continue;
		if (!is_tchar((unsigned char)*p))
			return ("must be names separated by commas");
		n++;
	}
	return (n > 0 ? NULL : "must name at least one");
}

/* "listen[].address" for elements, the dotted path for the rest. */
static const char *
opt_name(int i, char *buf, size_t len)
{
	if (opts[i].kind != K_ELEM)
		return (opts[i].path);
	snprintf(buf, len, "%s[].%s", opts[opts[i].list].path, opts[i].path);
	return (buf);
}

/*
 * libconfig names an included file as the @include wrote it; make it the
 * path the user can open.
 */
static const char *
setting_file(struct loader *l, const config_setting_t *s)
{
	const char	*f;

	if (s == NULL || (f = config_setting_source_file(s)) == NULL ||
	    strcmp(f, l->path) == 0)
		return (l->path);
	if (f[0] == '/' || l->dir[0] == '\0')
		return (f);
	snprintf(l->file, sizeof(l->file), "%s%s%s", l->dir,
	    strcmp(l->dir, "/") == 0 ? "" : "/", f);
	return (l->file);
}

static int
setting_line(struct loader *l, const config_setting_t *s)
{
	if (s == NULL || config_setting_source_line(s) == 0)
		return (l->lastline);
	return (config_setting_source_line(s));
}

/* "FILE:LINE: message" into the caller's buffer; returns -1. */
static int __attribute__((format(printf, 3, 4)))
fail(struct loader *l, const config_setting_t *s, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->errlen > 0)
		snprintf(l->err, l->errlen, "%s:%d: %s", setting_file(l, s),
		    setting_line(l, s), msg);
	return (-1);
}

static int
warn_later(struct loader *l, const config_setting_t *s, int i)
{
	struct config	 *cfg = l->cfg;
	char		**nw, *w, nbuf[128];
	const char	 *name = opt_name(i, nbuf, sizeof(nbuf));
	const char	 *file = setting_file(l, s);
	int		  line = setting_line(l, s), n;

	n = snprintf(NULL, 0, "%s:%d: option '%s' is not implemented yet "
	    "and has no effect", file, line, name);
	nw = realloc(cfg->warnings, (cfg->nwarnings + 1) * sizeof(*nw));
	if (nw == NULL)
		return (fail(l, s, "out of memory"));
	cfg->warnings = nw;
	if (n < 0 || (w = malloc((size_t)n + 1)) == NULL)
		return (fail(l, s, "out of memory"));
	snprintf(w, (size_t)n + 1, "%s:%d: option '%s' is not implemented "
	    "yet and has no effect", file, line, name);
	cfg->warnings[cfg->nwarnings++] = w;
	return (0);
}

/* Index of choice s in "a|b|c", or -1. */
static int
choice_index(const char *choices, const char *s)
{
	const char	*p = choices, *bar;
	size_t		 n, sl = strlen(s);
	int		 i;

	for (i = 0; p != NULL; i++) {
		bar = strchr(p, '|');
		n = bar != NULL ? (size_t)(bar - p) : strlen(p);
		if (n == sl && strncmp(p, s, n) == 0)
			return (i);
		p = bar != NULL ? bar + 1 : NULL;
	}
	return (-1);
}

/* "a|b|c" as "\"a\", \"b\", \"c\"" for messages and docs. */
static const char *
choice_list(const char *choices, char *buf, size_t len)
{
	const char	*p;
	size_t		 o = 0;

	if (len < 2)
		return ("");
	buf[o++] = '"';
	for (p = choices; *p != '\0' && o + 5 < len; p++) {
		if (*p == '|') {
			memcpy(buf + o, "\", \"", 4);
			o += 4;
		} else
			buf[o++] = *p;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return (buf);
}

static void
free_field(const struct opt *d, void *field)
{
	if (d->type == T_STRING) {
		free(*(char **)field);
		*(char **)field = NULL;
	} else if (d->type == T_ADDRESS) {
		free(((struct cfg_addr *)field)->text);
		memset(field, 0, sizeof(struct cfg_addr));
	}
}

/*
 * Store text as the value of d in field, replacing what was there. The
 * defaults of the table go through here too, so a default is exactly what
 * the same text in a file would give. Returns 0, or -1 with *why.
 */
static int
value_from_text(const struct opt *d, const char *text, void *field,
    const char **why)
{
	struct cfg_addr	*a = field;
	char		*end, *dup;
	long		 v;
	int		 c;

	*why = NULL;
	switch (d->type) {
	case T_BOOL:
		if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
			return (-1);
		*(int *)field = strcmp(text, "true") == 0;
		return (0);
	case T_INT:
		errno = 0;
		v = strtol(text, &end, 10);
		if (errno != 0 || end == text || *end != '\0')
			return (-1);
		*(long *)field = v;
		return (0);
	case T_SIZE:
		return (parse_size(text, field));
	case T_DURATION:
		return (parse_duration(text, field));
	case T_ENUM:
		if ((c = choice_index(d->choices, text)) == -1)
			return (-1);
		*(int *)field = c;
		return (0);
	case T_STRING:
		if ((dup = strdup(text)) == NULL) {
			*why = "out of memory";
			return (-1);
		}
		free_field(d, field);
		*(char **)field = dup;
		return (0);
	case T_ADDRESS:
		if ((dup = strdup(text)) == NULL) {
			*why = "out of memory";
			return (-1);
		}
		free_field(d, field);
		if (parse_address(text, &a->ss, &a->len, why) == -1) {
			free(dup);
			return (-1);
		}
		a->text = dup;
		a->set = 1;
		return (0);
	default:
		return (-1);
	}
}

/*
 * The defaults of the options of base: struct config (K_OPT) or an element
 * of list (K_ELEM). The unit tests prove every default parses, so -1 means
 * out of memory.
 */
static int
set_defaults(void *base, enum opt_kind kind, int list)
{
	const char	*why;
	int		 i;

	for (i = 0; i < OI_COUNT; i++) {
		if (opts[i].kind != kind || opts[i].def == NULL ||
		    (kind == K_ELEM && opts[i].list != list))
			continue;
		if (value_from_text(&opts[i], opts[i].def,
		    FIELD(base, &opts[i]), &why) == -1)
			return (-1);
	}
	return (0);
}

static int
out_of_range(const struct opt *d, const void *field)
{
	uint64_t	 umin, umax, u;
	long		 v;

	if (d->min == NULL || d->max == NULL)
		return (0);
	switch (d->type) {
	case T_INT:
		v = *(const long *)field;
		return (v < strtol(d->min, NULL, 10) ||
		    v > strtol(d->max, NULL, 10));
	case T_SIZE:
		u = *(const uint64_t *)field;
		return (parse_size(d->min, &umin) == -1 ||
		    parse_size(d->max, &umax) == -1 || u < umin || u > umax);
	case T_DURATION:
		u = *(const uint64_t *)field;
		return (parse_duration(d->min, &umin) == -1 ||
		    parse_duration(d->max, &umax) == -1 ||
		    u < umin || u > umax);
	default:
		return (0);
	}
}

static const char *
type_error(const struct opt *d, char *buf, size_t len)
{
	char	 list[256];

	switch (d->type) {
	case T_BOOL:
		return ("must be true or false");
	case T_INT:
		return ("must be an integer");
	case T_SIZE:
		return ("must be a size, e.g. \"16K\" or a number of bytes");
	case T_DURATION:
		return ("must be a duration, e.g. \"500ms\" or a number of "
		    "seconds");
	case T_ENUM:
		snprintf(buf, len, "must be one of %s",
		    choice_list(d->choices, list, sizeof(list)));
		return (buf);
	case T_ADDRESS:
		return ("must be an address string, e.g. \"127.0.0.1:8080\"");
	default:
		return ("must be a string");
	}
}

/* A libconfig integer where a size or a duration is expected. */
static int
load_number(struct loader *l, int i, const config_setting_t *s, void *field)
{
	const struct opt	*d = &opts[i];
	long long		 v = config_setting_get_int64(s);
	uint64_t		 u = (uint64_t)v;

	if (v < 0)
		return (1);	/* out of range */
	if (d->type == T_INT) {
		if (v > (long long)__LONG_MAX__)
			return (1);
		*(long *)field = (long)v;
	} else if (d->type == T_DURATION) {
		/* A bare number is seconds, as in a string. */
		if (u > UINT64_MAX / 1000)
			return (1);
		*(uint64_t *)field = u * 1000;
	} else
		*(uint64_t *)field = u;
	return (0);
}

static int
load_text(struct loader *l, int i, const config_setting_t *s, void *field)
{
	const struct opt	*d = &opts[i];
	const char		*text = config_setting_get_string(s), *why;
	char			 nbuf[128], buf[300];
	const char		*name = opt_name(i, nbuf, sizeof(nbuf));

	if (d->type == T_STRING && d->choices != NULL &&
	    choice_index(d->choices, text) == -1)
		return (fail(l, s, "option '%s' must be one of %s", name,
		    choice_list(d->choices, buf, sizeof(buf))));
	if (d->check != NULL && (why = d->check(text)) != NULL)
		return (fail(l, s, "option '%s' %s", name, why));
	if (value_from_text(d, text, field, &why) == 0)
		return (0);
	switch (d->type) {
	case T_SIZE:
		return (fail(l, s, "option '%s' has an invalid size \"%s\" "
		    "(e.g. \"512\", \"16K\", \"256M\", \"1G\")", name, text));
	case T_DURATION:
		return (fail(l, s, "option '%s' has an invalid duration \"%s\" "
		    "(e.g. \"500ms\", \"2s\", \"1m\", \"1h\")", name, text));
	case T_ADDRESS:
		return (fail(l, s, "option '%s' has an invalid address "
		    "\"%s\": %s", name, text, why));
	case T_ENUM:
		return (fail(l, s, "option '%s' %s", name,
		    type_error(d, buf, sizeof(buf))));
	default:
		return (fail(l, s, "option '%s': %s", name,
		    why != NULL ? why : "invalid value"));
	}
}

/* Parse setting s as option i into its field of base, range included. */
static int
load_value(struct loader *l, int i, const config_setting_t *s, void *base)
{
	const struct opt	*d = &opts[i];
	void			*field = FIELD(base, d);
	int			 t = config_setting_type(s), bad = 0;
	int			 isint, isstr;
	char			 nbuf[128], buf[300];
	const char		*name = opt_name(i, nbuf, sizeof(nbuf));

	isint = t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
	isstr = t == CONFIG_TYPE_STRING;
	if (d->type == T_BOOL && t == CONFIG_TYPE_BOOL)
		*(int *)field = config_setting_get_bool(s);
	else if (isint && (d->type == T_INT || d->type == T_SIZE ||
	    d->type == T_DURATION))
		bad = load_number(l, i, s, field);
	else if (isstr && d->type != T_BOOL && d->type != T_INT) {
		if (load_text(l, i, s, field) == -1)
			return (-1);
	} else
		return (fail(l, s, "option '%s' %s", name,
		    type_error(d, buf, sizeof(buf))));
	if (bad || out_of_range(d, field))
		return (fail(l, s, "option '%s' must be between %s and %s",
		    name, d->min, d->max));
	return (0);
}

/* Whether field still holds the default of d. */
static int
is_default(const struct opt *d, const void *field)
{
	union {
		int		 i;
		long		 l;
		uint64_t	 u;
	} v;
	const char	*why;

	if (d->def == NULL || d->type == T_STRING || d->type == T_ADDRESS)
		return (0);	/* only scalars warn conditionally */
	memset(&v, 0, sizeof(v));
	if (value_from_text(d, d->def, &v, &why) == -1)
		return (0);
	switch (d->type) {
	case T_BOOL:
	case T_ENUM:
		return (v.i == *(const int *)field);
	case T_INT:
		return (v.l == *(const long *)field);
	default:
		return (v.u == *(const uint64_t *)field);
	}
}

/* Remember where option i was set, for errors found after loading. */
static void
note_where(struct loader *l, int i, const config_setting_t *s)
{
	char buf[1400];

	if (l->cfg->where == NULL &&
	    (l->cfg->where = calloc(OI_COUNT, sizeof(char *))) == NULL)
		return;
	snprintf(buf, sizeof(buf), "%s:%d", setting_file(l, s),
	    setting_line(l, s));
	free(l->cfg->where[i]);
	l->cfg->where[i] = strdup(buf);
}

const char *
config_where(const struct config *cfg, const char *path)
{
	int i;

	for (i = 0; cfg->where != NULL && i < OI_COUNT; i++)
		if (opts[i].kind == K_OPT && strcmp(opts[i].path, path) == 0 &&
		    cfg->where[i] != NULL)
			return (cfg->where[i]);
	return (cfg->path);
}

/* One option the file sets: load it, and warn if it is not active yet. */
static int
load_option(struct loader *l, int i, const config_setting_t *s, void *base,
    int quiet)
{
	const struct opt	*d = &opts[i];

	if (load_value(l, i, s, base) == -1)
		return (-1);
	if (quiet || d->active == A_ACTIVE)
		return (0);
	if (d->active == A_LATER_IF_CHANGED && is_default(d, FIELD(base, d)))
		return (0);
	return (warn_later(l, s, i));
}

static int
field_equal(const struct opt *d, const void *a, const void *b)
{
	const struct cfg_addr	*aa = a, *ab = b;
	const char		*sa, *sb;

	switch (d->type) {
	case T_BOOL:
	case T_ENUM:
		return (*(const int *)a == *(const int *)b);
	case T_INT:
		return (*(const long *)a == *(const long *)b);
	case T_SIZE:
	case T_DURATION:
		return (*(const uint64_t *)a == *(const uint64_t *)b);
	case T_ADDRESS:
		return (aa->set == ab->set && aa->len == ab->len &&
		    memcmp(&aa->ss, &ab->ss, aa->len) == 0);
	default:
		sa = *(char *const *)a;
		sb = *(char *const *)b;
		return (sa == sb || (sa != NULL && sb != NULL &&
		    strcmp(sa, sb) == 0));
	}
}

static int
list_equal(int list, const struct config *a, const struct config *b)
{
	const struct opt	*d = &opts[list];
	const char		*ea = *(char *const *)FIELD(a, d);
	const char		*eb = *(char *const *)FIELD(b, d);
	int			 n = *(const int *)((const char *)a + d->count_off);
	int			 e, j;

	if (n != *(const int *)((const char *)b + d->count_off))
		return (0);
	for (e = 0; e < n; e++)
		for (j = list + 1; j < OI_COUNT && opts[j].kind == K_ELEM; j++)
			if (!field_equal(&opts[j],
			    FIELD(ea + e * d->elem_size, &opts[j]),
			    FIELD(eb + e * d->elem_size, &opts[j])))
				return (0);
	return (1);
}

const char *
config_restart_needed(const struct config *old, const struct config *new)
{
	int	 i;

	for (i = 0; i < OI_COUNT; i++) {
		if (opts[i].reload != R_RESTART)
			continue;
		if (opts[i].kind == K_OPT && !field_equal(&opts[i],
		    FIELD(old, &opts[i]), FIELD(new, &opts[i])))
			return (opts[i].path);
		if (opts[i].kind == K_LIST && !list_equal(i, old, new))
			return (opts[i].path);
	}
	/* The same admin.token_file with another token in it. */
	if ((old->admin_secret == NULL) != (new->admin_secret == NULL) ||
	    (old->admin_secret != NULL &&
	    strcmp(old->admin_secret, new->admin_secret) != 0))
		return (old->admin_token_file != NULL ? "admin.token_file" :
		    "admin.token");
	return (NULL);
}

/* A copy of s (NULL stays NULL); a reload out of memory is not worth
 * a half-copied configuration. */
static char *
dup_or_die(const char *s)
{
	char *d;

	if (s == NULL)
		return (NULL);
	if ((d = strdup(s)) == NULL)
		abort();
	return (d);
}

int
config_keep_restart(struct config *new, const struct config *old,
    char *changed, size_t len)
{
	const struct opt	*d;
	const struct cfg_addr	*ao;
	struct cfg_addr		*an;
	char			**sn;
	size_t			 o = 0;
	int			 i, n = 0;

	if (len > 0)
		changed[0] = '\0';
	for (i = 0; i < OI_COUNT; i++) {
		d = &opts[i];
		/* Lists are all reloadable (options.def has none that is
		 * not), so scalars are what there is to keep. */
		if (d->reload != R_RESTART || d->kind != K_OPT ||
		    field_equal(d, FIELD(old, d), FIELD(new, d)))
			continue;
		if (o < len)
			o += (size_t)snprintf(changed + o, len - o, "%s%s",
			    n > 0 ? ", " : "", d->path);
		n++;
		switch (d->type) {
		case T_STRING:
			sn = (char **)FIELD(new, d);
			free(*sn);
			*sn = dup_or_die(*(char *const *)FIELD(old, d));
			break;
		case T_ADDRESS:
			an = (struct cfg_addr *)FIELD(new, d);
			ao = (const struct cfg_addr *)FIELD(old, d);
			free(an->text);
			*an = *ao;
			an->text = dup_or_die(ao->text);
			break;
		default:
			memcpy(FIELD(new, d), FIELD(old, d), d->type == T_INT ?
			    sizeof(long) : d->type == T_SIZE ||
			    d->type == T_DURATION ? sizeof(uint64_t) :
			    sizeof(int));
			break;
		}
	}
	return (n);
}

int
config_has_tls_listener(const struct config *cfg)
{
	int i;

	for (i = 0; i < cfg->nlisten; i++)
		if (cfg->listen[i].tls)
			return (1);
	return (0);
}

/* Edit distance, for "did you mean"; names are short. */
static int
distance(const char *a, const char *b)
{
	int	 row[128], i, j, prev, tmp, n = strlen(b);

	if (n >= 128 || strlen(a) >= 128)
		return (1000);
	for (j = 0; j <= n; j++)
		row[j] = j;
	for (i = 1; a[i - 1] != '\0'; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= n; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j] > row[j - 1] + 1)
				row[j] = row[j - 1] + 1;
			if (row[j] > tmp + 1)
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return (row[n]);
}

static int
unknown(struct loader *l, const config_setting_t *s, const char *name)
{
	char	 nbuf[128], best[128];
	int	 i, d, bestd = 1000;

	best[0] = '\0';
	for (i = 0; i < OI_COUNT; i++) {
		d = distance(name, opt_name(i, nbuf, sizeof(nbuf)));
		if (d < bestd) {
			bestd = d;
			snprintf(best, sizeof(best), "%s",
			    opt_name(i, nbuf, sizeof(nbuf)));
		}
	}
	/* Close enough to be a typo rather than a different idea. */
	if (bestd <= 2 || bestd * 4 <= (int)strlen(name))
		return (fail(l, s, "unknown option '%s' (did you mean '%s'?)",
		    name, best));
	return (fail(l, s, "unknown option '%s'", name));
}

/* Row of the element key name of list, or -1. */
static int
find_elem(int list, const char *name)
{
	int	 i;

	for (i = 0; i < OI_COUNT; i++)
		if (opts[i].kind == K_ELEM && opts[i].list == list &&
		    strcmp(opts[i].path, name) == 0)
			return (i);
	return (-1);
}

/* Row of a group, option or list by dotted path, or -1. */
static int
find_path(const char *path)
{
	int	 i;

	for (i = 0; i < OI_COUNT; i++)
		if (opts[i].kind != K_ELEM && strcmp(opts[i].path, path) == 0)
			return (i);
	return (-1);
}

static int
load_elem(struct loader *l, int list, const config_setting_t *e, void *elem)
{
	const config_setting_t	*m;
	char			 name[160];
	int			 i, j, n, quiet;

	if (config_setting_type(e) != CONFIG_TYPE_GROUP)
		return (fail(l, e, "each element of '%s' must be a group "
		    "{ ... }", opts[list].path));
	*(int *)((char *)elem + opts[list].line_off) = setting_line(l, e);
	/* An inactive list warns once, not once per key. */
	quiet = opts[list].active != A_ACTIVE;
	n = config_setting_length(e);
	for (i = 0; i < n; i++) {
		m = config_setting_get_elem(e, i);
		if ((j = find_elem(list, config_setting_name(m))) == -1) {
			snprintf(name, sizeof(name), "%s[].%s",
			    opts[list].path, config_setting_name(m));
			return (unknown(l, m, name));
		}
		if (load_option(l, j, m, elem, quiet) == -1)
			return (-1);
	}
	for (j = 0; j < OI_COUNT; j++) {
		if (opts[j].kind != K_ELEM || opts[j].list != list ||
		    opts[j].required != N_REQUIRED ||
		    config_setting_get_member(e, opts[j].path) != NULL)
			continue;
		return (fail(l, e, "missing required option '%s'",
		    opt_name(j, name, sizeof(name))));
	}
	return (0);
}

/* Two elements of one list may not share an address. */
static int
check_duplicates(struct loader *l, int list, const config_setting_t *s)
{
	const struct opt	*d = &opts[list];
	char			*elems = *(char **)FIELD(l->cfg, d);
	int			 n = *(int *)((char *)l->cfg + d->count_off);
	const struct cfg_addr	*a, *b;
	int			 i, j, k, first;

	for (k = 0; k < OI_COUNT; k++) {
		if (opts[k].kind != K_ELEM || opts[k].list != list ||
		    opts[k].type != T_ADDRESS)
			continue;
		for (i = 1; i < n; i++) {
			b = FIELD(elems + i * d->elem_size, &opts[k]);
			for (j = 0; j < i && b->set; j++) {
				a = FIELD(elems + j * d->elem_size, &opts[k]);
				if (!a->set || a->len != b->len ||
				    memcmp(&a->ss, &b->ss, a->len) != 0)
					continue;
				first = *(int *)(elems + j * d->elem_size +
				    d->line_off);
				return (fail(l, config_setting_type(s) ==
				    CONFIG_TYPE_LIST ?
				    config_setting_get_elem(s, i) : s,
				    "duplicate %s address %s (first at line %d)",
				    d->what, b->text, first));
			}
		}
	}
	return (0);
}

static int
load_list(struct loader *l, int list, const config_setting_t *s)
{
	const struct opt	*d = &opts[list];
	char			*elems;
	int			 t = config_setting_type(s), n, i;

	if (t == CONFIG_TYPE_GROUP)
		n = 1;	/* a lone group is a list of one */
	else if (t == CONFIG_TYPE_LIST)
		n = config_setting_length(s);
	else
		return (fail(l, s, "option '%s' must be a list of groups: "
		    "( { ... }, ... )", d->path));
	if (n < d->min_n)
		return (fail(l, s, "option '%s' needs at least %d element%s",
		    d->path, d->min_n, d->min_n == 1 ? "" : "s"));
	if (d->max_n != 0 && n > d->max_n)
		return (fail(l, s, "option '%s' has %d elements, at most %d "
		    "are allowed", d->path, n, d->max_n));
	if (d->active != A_ACTIVE && warn_later(l, s, list) == -1)
		return (-1);
	if (n == 0)
		return (0);
	if ((elems = calloc((size_t)n, d->elem_size)) == NULL)
		return (fail(l, s, "out of memory"));
	/* Owned by cfg from here on, so config_free cleans up after errors. */
	*(char **)FIELD(l->cfg, d) = elems;
	*(int *)((char *)l->cfg + d->count_off) = n;
	for (i = 0; i < n; i++)
		if (set_defaults(elems + i * d->elem_size, K_ELEM, list) == -1)
			return (fail(l, s, "out of memory"));
	for (i = 0; i < n; i++) {
		if (load_elem(l, list, t == CONFIG_TYPE_GROUP ? s :
		    config_setting_get_elem(s, i),
		    elems + i * d->elem_size) == -1)
			return (-1);
	}
	return (check_duplicates(l, list, s));
}

static int
load_group(struct loader *l, const config_setting_t *g, const char *prefix)
{
	const config_setting_t	*s;
	char			 path[256];
	int			 i, j, n;

	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(g, i);
		snprintf(path, sizeof(path), "%s%s%s", prefix,
		    prefix[0] != '\0' ? "." : "", config_setting_name(s));
		if ((j = find_path(path)) == -1)
			return (unknown(l, s, path));
		switch (opts[j].kind) {
		case K_GROUP:
			if (config_setting_type(s) != CONFIG_TYPE_GROUP)
				return (fail(l, s, "option '%s' must be a "
				    "group { ... }", path));
			if (load_group(l, s, path) == -1)
				return (-1);
			break;
		case K_LIST:
			if (load_list(l, j, s) == -1)
				return (-1);
			break;
		default:
			if (load_option(l, j, s, l->cfg, 0) == -1)
				return (-1);
			note_where(l, j, s);
			break;
		}
	}
	return (0);
}

/*
 * A required list the file lacks: point at the group that should hold it,
 * or at the end of the file.
 */
static int
check_required(struct loader *l)
{
	const config_setting_t	*s;
	char			 path[256], *dot;
	int			 i;

	for (i = 0; i < OI_COUNT; i++) {
		if (opts[i].kind != K_LIST || opts[i].min_n == 0 ||
		    *(int *)((char *)l->cfg + opts[i].count_off) > 0)
			continue;
		s = NULL;
		snprintf(path, sizeof(path), "%s", opts[i].path);
		while (s == NULL && (dot = strrchr(path, '.')) != NULL) {
			*dot = '\0';
			s = config_lookup(&l->lc, path);
		}
		return (fail(l, s, "missing required option '%s'",
		    opts[i].path));
	}
	return (0);
}

/* Listener options that only make sense with TLS, or without it. */
static int
check_listen(struct loader *l)
{
	const struct cfg_listen	*ln;
	int			 i;

	for (i = 0; i < l->cfg->nlisten; i++) {
		ln = &l->cfg->listen[i];
		if (ln->tls && ln->redirect_https) {
			snprintf(l->err, l->errlen, "%s:%d: listen %s: "
			    "redirect_https is for a plain listener, and this "
			    "one has tls = true", l->path, ln->line,
			    ln->address.text);
			return (-1);
		}
		if (!ln->tls && ln->client_ca != NULL) {
			snprintf(l->err, l->errlen, "%s:%d: listen %s: "
			    "client_ca needs tls = true", l->path, ln->line,
			    ln->address.text);
			return (-1);
		}
		if (!ln->tls && ln->hsts != NULL) {
			snprintf(l->err, l->errlen, "%s:%d: listen %s: hsts "
			    "needs tls = true (browsers ignore it over plain "
			    "HTTP)", l->path, ln->line, ln->address.text);
			return (-1);
		}
	}
	return (0);
}

/*
 * admin.token, or the first line of admin.token_file, into
 * cfg->admin_secret: one place for the listener and vane -s to look.
 */
static int
load_secret(struct loader *l)
{
	struct config	*cfg = l->cfg;
	const char	*where = config_where(cfg, "admin.token_file"), *why;
	char		 buf[1024];
	FILE		*fp;

	if (cfg->admin_token != NULL && cfg->admin_token_file != NULL) {
		snprintf(l->err, l->errlen, "%s: admin.token_file: set "
		    "admin.token or admin.token_file, not both", where);
		return (-1);
	}
	if (cfg->admin_token_file == NULL) {
		if (cfg->admin_token != NULL &&
		    (cfg->admin_secret = strdup(cfg->admin_token)) == NULL)
			return (fail(l, NULL, "out of memory"));
		return (0);
	}
	if ((fp = fopen(cfg->admin_token_file, "r")) == NULL) {
		snprintf(l->err, l->errlen, "%s: admin.token_file: cannot read "
		    "%s: %s", where, cfg->admin_token_file, strerror(errno));
		return (-1);
	}
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	buf[strcspn(buf, "\r\n")] = '\0';
	/* The reason only: the file's content is a secret. */
	if ((why = check_token(buf)) != NULL) {
		snprintf(l->err, l->errlen, "%s: admin.token_file: the first "
		    "line of %s %s", where, cfg->admin_token_file, why);
		return (-1);
	}
	if ((cfg->admin_secret = strdup(buf)) == NULL)
		return (fail(l, NULL, "out of memory"));
	explicit_bzero(buf, sizeof(buf));
	return (0);
}

/*
 * The admin listener can drain every server and purge the cache: off
 * loopback it needs a token. It cannot share a port with a listener
 * either (the bind would fail at start, or worse, share the port).
 */
static int
check_admin(struct loader *l)
{
	const struct cfg_addr	*a = &l->cfg->admin_address;
	const struct cfg_listen	*ln;
	int			 i;

	if (!a->set)
		return (0);
	if (l->cfg->admin_secret == NULL &&
	    !sockaddr_is_loopback((const struct sockaddr *)&a->ss)) {
		snprintf(l->err, l->errlen, "%s: admin.address: %s is not "
		    "loopback: set admin.token (or admin.token_file), or "
		    "whoever reaches it can drain servers and purge the cache",
		    config_where(l->cfg, "admin.address"), a->text);
		return (-1);
	}
	for (i = 0; i < l->cfg->nlisten; i++) {
		ln = &l->cfg->listen[i];
		if (!sockaddr_overlap((const struct sockaddr *)&a->ss,
		    (const struct sockaddr *)&ln->address.ss))
			continue;
		snprintf(l->err, l->errlen, "%s: admin.address: %s takes the "
		    "port of listen address %s (line %d)",
		    config_where(l->cfg, "admin.address"), a->text,
		    ln->address.text, ln->line);
		return (-1);
	}
	return (0);
}

/* Lines in the file, for errors about what it lacks. */
static int
count_lines(FILE *fp)
{
	int	 c, last = '\n', n = 0;

	while ((c = getc(fp)) != EOF) {
		if (c == '\n')
			n++;
		last = c;
	}
	if (last != '\n')
		n++;
	return (n > 0 ? n : 1);
}

static int
read_file(struct loader *l)
{
	FILE	*fp;
	char	*slash;

	if ((fp = fopen(l->path, "r")) == NULL) {
		snprintf(l->err, l->errlen, "%s: cannot open: %s", l->path,
		    strerror(errno));
		return (-1);
	}
	l->lastline = count_lines(fp);
	if (ferror(fp)) {
		snprintf(l->err, l->errlen, "%s: cannot read: %s", l->path,
		    strerror(errno));
		fclose(fp);
		return (-1);
	}
	fclose(fp);
	/* @include "x.conf" is relative to the including file. */
	snprintf(l->dir, sizeof(l->dir), "%s", l->path);
	if ((slash = strrchr(l->dir, '/')) == NULL)
		l->dir[0] = '\0';
	else {
		slash[slash == l->dir] = '\0';	/* "/x.conf": "/" */
		config_set_include_dir(&l->lc, l->dir);
	}
	if (config_read_file(&l->lc, l->path) == CONFIG_FALSE) {
		if (config_error_type(&l->lc) == CONFIG_ERR_FILE_IO)
			snprintf(l->err, l->errlen, "%s: cannot read: %s",
			    l->path, config_error_text(&l->lc));
		else
			snprintf(l->err, l->errlen, "%s:%d: syntax error: %s",
			    config_error_file(&l->lc) != NULL ?
			    config_error_file(&l->lc) : l->path,
			    config_error_line(&l->lc),
			    config_error_text(&l->lc));
		return (-1);
	}
	return (0);
}

/* The access log's format, compiled once for every line it will write. */
static int
compile_access_format(struct loader *l)
{
	char		 buf[192];
	const char	*why;

	if (l->cfg->log_access_format == NULL)
		return (0);
	l->cfg->log_access_fmt = log_format_compile(l->cfg->log_access_format,
	    buf, sizeof(buf), &why);
	if (l->cfg->log_access_fmt != NULL)
		return (0);
	snprintf(l->err, l->errlen, "%s: option 'log.access_format' %s",
	    l->path, why != NULL ? why : "cannot be compiled: out of memory");
	return (-1);
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct loader	 l;
	char		 dummy[1];

	memset(&l, 0, sizeof(l));
	l.path = path;
	l.err = err != NULL ? err : dummy;
	l.errlen = err != NULL ? errlen : sizeof(dummy);
	l.err[0] = '\0';
	config_init(&l.lc);
	if ((l.cfg = calloc(1, sizeof(*l.cfg))) == NULL ||
	    (l.cfg->path = strdup(path)) == NULL ||
	    set_defaults(l.cfg, K_OPT, -1) == -1) {
		snprintf(l.err, l.errlen, "%s: out of memory", path);
		goto fail;
	}
	if (read_file(&l) == -1 ||
	    load_group(&l, config_root_setting(&l.lc), "") == -1 ||
	    check_required(&l) == -1 || check_listen(&l) == -1 ||
	    load_secret(&l) == -1 || check_admin(&l) == -1 ||
	    compile_access_format(&l) == -1)
		goto fail;
	config_destroy(&l.lc);
	return (l.cfg);
fail:
	config_destroy(&l.lc);
	config_free(l.cfg);
	return (NULL);
}

static void
free_fields(void *base, enum opt_kind kind, int list)
{
	int	 i;

	for (i = 0; i < OI_COUNT; i++)
		if (opts[i].kind == kind &&
		    (kind != K_ELEM || opts[i].list == list))
			free_field(&opts[i], FIELD(base, &opts[i]));
}

void
config_free(struct config *cfg)
{
	char	*elems;
	int	 i, j, n;

	if (cfg == NULL)
		return;
	for (i = 0; i < OI_COUNT; i++) {
		if (opts[i].kind != K_LIST)
			continue;
		elems = *(char **)FIELD(cfg, &opts[i]);
		n = *(int *)((char *)cfg + opts[i].count_off);
		for (j = 0; j < n; j++)
			free_fields(elems + j * opts[i].elem_size, K_ELEM, i);
		free(elems);
	}
	free_fields(cfg, K_OPT, -1);
	for (i = 0; i < cfg->nwarnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	for (i = 0; cfg->where != NULL && i < OI_COUNT; i++)
		free(cfg->where[i]);
	free(cfg->where);
	if (cfg->admin_secret != NULL)
		explicit_bzero(cfg->admin_secret, strlen(cfg->admin_secret));
	free(cfg->admin_secret);
	log_format_free(cfg->log_access_fmt);
	free(cfg->path);
	free(cfg);
}

/*
 * The generators below walk the table in order. Groups precede their
 * members, so a member whose parent is not the innermost open group closes
 * groups until it is.
 */
struct printer {
	FILE			*fp;
	const struct config	*cfg;	/* NULL: the sample */
	int			 cdepth;	/* commented out from here; -1 */
	int			 first;	/* no blank line before the next */
};

static const char *const type_words[] = {
	[T_NONE] = "group", [T_BOOL] = "boolean", [T_INT] = "integer",
	[T_SIZE] = "size", [T_DURATION] = "duration", [T_STRING] = "string",
	[T_ENUM] = "choice", [T_ADDRESS] = "address",
};

/* Last component of a dotted path: the key as written in its group. */
static const char *
opt_key(int i)
{
	const char	*dot = strrchr(opts[i].path, '.');

	return (dot != NULL ? dot + 1 : opts[i].path);
}

/* Parent path length of row i: "cache.redis.timeout" -> 11. */
static size_t
parent_len(int i)
{
	const char	*dot = strrchr(opts[i].path, '.');

	return (dot != NULL ? (size_t)(dot - opts[i].path) : 0);
}

static void
pindent(struct printer *p, int depth)
{
	int	 i;

	if (p->cdepth >= 0) {
		for (i = 0; i < p->cdepth; i++)
			fputc('\t', p->fp);
		fputs("# ", p->fp);
		depth -= p->cdepth;
	}
	for (i = 0; i < depth; i++)
		fputc('\t', p->fp);
}

/* A comment, wrapped to fit 78 columns with tabs of 8. */
static void
pcomment(struct printer *p, int depth, const char *text)
{
	const char	*w, *end;
	int		 col, start = depth * 8 + 2 + (p->cdepth >= 0) * 2;

	col = 0;
	for (w = text; *w != '\0'; w = end) {
		while (*w == ' ')
			w++;
		if (*w == '\0')
			break;
		if ((end = strchr(w, ' ')) == NULL)
			end = w + strlen(w);
		if (col > 0 && start + col + 1 + (end - w) > 78) {
			fputc('\n', p->fp);
			col = 0;
		}
		if (col == 0) {
			pindent(p, depth);
			fputs("#", p->fp);
		}
		fprintf(p->fp, " %.*s", (int)(end - w), w);
		col += 1 + (int)(end - w);
	}
	if (col > 0)
		fputc('\n', p->fp);
}

/* Blank line between entries, kept inside a commented-out block. */
static void
pblank(struct printer *p)
{
	int	 i;

	if (p->first) {
		p->first = 0;
		return;
	}
	for (i = 0; i < p->cdepth; i++)
		fputc('\t', p->fp);
	fputs(p->cdepth >= 0 ? "#\n" : "\n", p->fp);
}

static void
pquoted(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

/* "one of ..., 0 to 256; required; restart to change". */
static void
pmeta(struct printer *p, int i, int depth)
{
	const struct opt	*d = &opts[i];
	char			 buf[512], list[256];
	size_t			 o;

	if (d->choices != NULL)
		o = snprintf(buf, sizeof(buf), "one of %s",
		    choice_list(d->choices, list, sizeof(list)));
	else if (d->kind == K_LIST && d->max_n > 0)
		o = snprintf(buf, sizeof(buf), "list of %d to %d groups",
		    d->min_n, d->max_n);
	else if (d->kind == K_LIST)
		o = snprintf(buf, sizeof(buf), "list of %d or more groups",
		    d->min_n);
	else
		o = snprintf(buf, sizeof(buf), "%s", type_words[d->type]);
	if (d->min != NULL && o < sizeof(buf))
		o += snprintf(buf + o, sizeof(buf) - o, ", %s to %s", d->min,
		    d->max);
	if (d->required == N_REQUIRED && o < sizeof(buf))
		o += snprintf(buf + o, sizeof(buf) - o, "; required");
	if (d->kind != K_ELEM && d->reload == R_RESTART && o < sizeof(buf))
		o += snprintf(buf + o, sizeof(buf) - o, "; restart to change");
	if (d->active != A_ACTIVE && o < sizeof(buf))
		snprintf(buf + o, sizeof(buf) - o, "; not implemented yet");
	pcomment(p, depth, buf);
}

struct unit {
	char		 suffix[3];
	uint64_t	 n;
};

static const struct unit size_units[] = {
	{ "T", 1ULL << 40 }, { "G", 1ULL << 30 }, { "M", 1ULL << 20 },
	{ "K", 1ULL << 10 }, { "", 1 },
};
static const struct unit duration_units[] = {
	{ "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 },
	{ "ms", 1 },
};

/* u in the largest unit that divides it: 3600000 ms is "1h". */
static const char *
format_units(uint64_t u, const struct unit *units, char *buf, size_t len)
{
	size_t	 k;

	for (k = 0; units[k].n != 1 && (u == 0 || u % units[k].n != 0); k++)
		;
	snprintf(buf, len, "%llu%s", (unsigned long long)(u / units[k].n),
	    units[k].suffix);
	return (buf);
}

/* The value of field as a file would write it, or NULL when unset. */
static const char *
format_value(const struct opt *d, const void *field, char *buf, size_t len)
{
	const struct cfg_addr	*a = field;
	const char		*p;
	int			 n;

	switch (d->type) {
	case T_BOOL:
		return (*(const int *)field ? "true" : "false");
	case T_INT:
		snprintf(buf, len, "%ld", *(const long *)field);
		return (buf);
	case T_SIZE:
		return (format_units(*(const uint64_t *)field, size_units,
		    buf, len));
	case T_DURATION:
		return (format_units(*(const uint64_t *)field, duration_units,
		    buf, len));
	case T_ENUM:
		p = d->choices;
		for (n = *(const int *)field; n > 0 && p != NULL; n--)
			if ((p = strchr(p, '|')) != NULL)
				p++;
		if (p == NULL)
			return (NULL);
		snprintf(buf, len, "%.*s", (int)strcspn(p, "|"), p);
		return (buf);
	case T_ADDRESS:
		return (a->set ? a->text : NULL);
	default:
		return (*(char *const *)field);
	}
}

const char *
config_value(const struct config *cfg, const char *path, char *buf,
    size_t len)
{
	int i;

	if ((i = find_path(path)) == -1 || opts[i].kind != K_OPT)
		return (NULL);
	return (format_value(&opts[i], FIELD(cfg, &opts[i]), buf, len));
}

/*
 * One option: doc, then "key = value;". In the sample an unset option shows
 * its example, commented out, and so does anything not implemented yet, so
 * that the sample loads without warnings.
 */
static void
print_option(struct printer *p, int i, const void *base, int depth,
    int inactive)
{
	const struct opt	*d = &opts[i];
	const char		*v;
	char			 buf[64];
	int			 saved = p->cdepth, comment;

	if (p->cfg == NULL) {
		pblank(p);
		pcomment(p, depth, d->doc);
		pmeta(p, i, depth);
		v = d->def != NULL ? d->def : d->example;
		comment = (d->def == NULL && d->required != N_REQUIRED) ||
		    inactive || d->active != A_ACTIVE;
	} else {
		v = format_value(d, FIELD(base, d), buf, sizeof(buf));
		comment = v == NULL;
	}
	if (comment && p->cdepth < 0)
		p->cdepth = depth;
	pindent(p, depth);
	if (v == NULL)
		fprintf(p->fp, "%s is unset\n", opt_key(i));
	else {
		fprintf(p->fp, "%s = ", opt_key(i));
		if (d->type == T_BOOL || d->type == T_INT)
			fputs(v, p->fp);
		else
			pquoted(p->fp, v);
		fputs(";\n", p->fp);
	}
	p->cdepth = saved;
}

static void
print_list(struct printer *p, int list, int depth)
{
	const struct opt	*d = &opts[list];
	const char		*elems = NULL;
	int			 saved = p->cdepth, n = 1, e, j, inactive;

	inactive = d->active != A_ACTIVE;
	if (p->cfg != NULL) {
		elems = *(char *const *)FIELD(p->cfg, d);
		n = *(const int *)((const char *)p->cfg + d->count_off);
	} else {
		pblank(p);
		pcomment(p, depth, d->doc);
		pmeta(p, list, depth);
	}
	if ((p->cfg == NULL && (d->min_n == 0 || inactive)) || n == 0)
		p->cdepth = p->cdepth >= 0 ? p->cdepth : depth;
	pindent(p, depth);
	fprintf(p->fp, "%s = (\n", opt_key(list));
	for (e = 0; e < n; e++) {
		pindent(p, depth + 1);
		fputs("{\n", p->fp);
		p->first = 1;
		for (j = list + 1; j < OI_COUNT && opts[j].kind == K_ELEM; j++)
			print_option(p, j, elems == NULL ? NULL :
			    elems + e * d->elem_size, depth + 2, inactive);
		pindent(p, depth + 1);
		fprintf(p->fp, "}%s\n", e + 1 < n ? "," : "");
	}
	pindent(p, depth);
	fputs(");\n", p->fp);
	p->cdepth = saved;
}

static void
print_conf(struct printer *p)
{
	size_t	 stack[8], pl;
	int	 depth = 0, i;

	for (i = 0; i < OI_COUNT; i++) {
		if (opts[i].kind == K_ELEM)
			continue;
		pl = parent_len(i);
		while (depth > 0 && stack[depth - 1] != pl) {
			depth--;
			pindent(p, depth);
			fputs("};\n", p->fp);
		}
		switch (opts[i].kind) {
		case K_GROUP:
			if (p->cfg == NULL) {
				pblank(p);
				pcomment(p, depth, opts[i].doc);
			}
			pindent(p, depth);
			fprintf(p->fp, "%s = {\n", opt_key(i));
			p->first = 1;
			stack[depth++] = strlen(opts[i].path);
			break;
		case K_LIST:
			print_list(p, i, depth);
			break;
		default:
			print_option(p, i, p->cfg, depth, 0);
			break;
		}
	}
	while (depth-- > 0)
		fputs("};\n", p->fp);
}

void
config_print_sample(FILE *fp)
{
	struct printer	 p = { fp, NULL, -1, 0 };

	fputs("# vane.conf: configuration of vane(8), see vane.conf(5).\n"
	    "#\n"
	    "# Generated by \"vane -x sample\" from src/options.def: change "
	    "the table,\n"
	    "# not this file. Every option is listed with its default; "
	    "those commented\n"
	    "# out are unset by default or not implemented yet.\n"
	    "# Sizes: \"512\", \"16K\", \"256M\", \"1G\". Durations: "
	    "\"500ms\", \"2s\", \"1m\", \"1h\".\n", fp);
	print_conf(&p);
}

void
config_dump(FILE *fp, const struct config *cfg)
{
	struct printer	 p = { fp, cfg, -1, 1 };

	fprintf(fp, "# effective configuration of %s\n", cfg->path);
	print_conf(&p);
}

/*
 * Text for roff text lines: a sentence starts a line (mandoc's "new
 * sentence, new line"), lines stay under 80 bytes, no line starts with a
 * control character, backslashes are escaped.
 */
static void
man_text(FILE *fp, const char *s)
{
	const char	*w, *end;
	int		 col = 0, newsentence = 0;

	for (w = s; *w != '\0'; w = end) {
		while (*w == ' ')
			w++;
		if (*w == '\0')
			break;
		end = w + strcspn(w, " ");
		if (col > 0 && (newsentence || col + 1 + (end - w) > 72)) {
			fputc('\n', fp);
			col = 0;
		}
		if (col > 0)
			col += fprintf(fp, " ");
		if (col == 0 && (*w == '.' || *w == '\''))
			col += fprintf(fp, "\\&");
		for (; w < end; w++)
			col += fprintf(fp, *w == '\\' ? "\\e" : "%c", *w);
		newsentence = end[-1] == '.';
	}
	if (col > 0)
		fputc('\n', fp);
}

static void
man_option(FILE *fp, int i)
{
	const struct opt	*d = &opts[i];
	char			 nbuf[128], list[256];

	fprintf(fp, ".It Ic %s Ar %s\n", opt_name(i, nbuf, sizeof(nbuf)),
	    d->kind == K_LIST ? "list" : type_words[d->type]);
	man_text(fp, d->doc);
	if (d->choices != NULL)
		fprintf(fp, "One of %s.\n",
		    choice_list(d->choices, list, sizeof(list)));
	if (d->min != NULL)
		fprintf(fp, "Range: %s to %s.\n", d->min, d->max);
	if (d->kind == K_LIST && d->min_n > 0)
		fprintf(fp, "Required: at least %d element%s", d->min_n,
		    d->min_n == 1 ? "" : "s");
	if (d->kind == K_LIST && d->max_n > 0)
		fprintf(fp, ", at most %d", d->max_n);
	if (d->kind == K_LIST && d->min_n > 0)
		fputs(".\n", fp);
	if (d->required == N_REQUIRED)
		fputs("Required.\n", fp);
	else if (d->kind != K_LIST && d->def == NULL)
		fputs("Unset by default.\n", fp);
	else if (d->kind != K_LIST && (d->type == T_BOOL || d->type == T_INT))
		fprintf(fp, "Default: %s.\n", d->def);
	else if (d->kind != K_LIST)
		fprintf(fp, "Default: \"%s\".\n", d->def);
	if (d->kind != K_ELEM)
		fputs(d->reload == R_RELOAD ? "Changes take effect on reload.\n"
		    : "Changes take effect on restart only.\n", fp);
	if (d->active == A_LATER_IF_CHANGED)
		man_text(fp, "Not implemented yet: a value other than the "
		    "default is accepted with a warning and has no effect.");
	else if (d->active == A_LATER)
		man_text(fp, "Not implemented yet: accepted with a warning, "
		    "no effect.");
}

/*
 * The OPTIONS section: a subsection per top-level group or list, the
 * options at the top level first under "General".
 */
void
config_print_man(FILE *fp)
{
	int	 i, j, open = 0;

	for (i = 0; i < OI_COUNT; i++) {
		if (opts[i].kind == K_ELEM)
			continue;
		if (parent_len(i) == 0 &&
		    (opts[i].kind != K_OPT || i == 0 ||
		    opts[i - 1].kind == K_GROUP || parent_len(i - 1) != 0)) {
			if (open)
				fputs(".El\n", fp);
			fprintf(fp, ".Ss %s\n", opts[i].kind == K_OPT ?
			    "General" : opts[i].path);
			if (opts[i].kind == K_GROUP)
				man_text(fp, opts[i].doc);
			fputs(".Bl -tag -width Ds\n", fp);
			open = 1;
			if (opts[i].kind == K_GROUP)
				continue;
		}
		if (opts[i].kind == K_GROUP) {
			fprintf(fp, ".It Ic %s Ar group\n", opts[i].path);
			man_text(fp, opts[i].doc);
			continue;
		}
		man_option(fp, i);
		if (opts[i].kind != K_LIST)
			continue;
		fputs("Each element is a group of:\n.Bl -tag -width Ds\n", fp);
		for (j = i + 1; j < OI_COUNT && opts[j].kind == K_ELEM; j++)
			man_option(fp, j);
		fputs(".El\n", fp);
	}
	if (open)
		fputs(".El\n", fp);
}
