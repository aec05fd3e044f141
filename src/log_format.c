/*
 * log_format.c: compile log.access_format into ops (see log_format.h).
 * Pure: no I/O; the access log (client.c) walks the ops for each line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log_format.h"

static const char *const lf_var_names[LV_COUNT] = {
	"literal", "remote_addr", "remote_port", "time_local", "time_iso8601",
	"msec", "request", "request_method", "request_uri", "server_protocol",
	"scheme", "status", "bytes_sent", "body_bytes_sent", "request_length",
	"upstream_addr", "upstream_response_time", "request_time",
	"cache_status",
	"connection_requests", "connection", "request_id", "http_"
};

const char *
log_format_var_name(int var)
{
	if (var < 0 || var >= LV_COUNT)
		return (NULL);
	return (lf_var_names[var]);
}

size_t
log_format_var_max(int var)
{
	switch (var) {
	case LV_LITERAL:
		return (0);
	case LV_REQUEST:
	case LV_REQUEST_METHOD:
	case LV_REQUEST_URI:
	case LV_SERVER_PROTOCOL:
		return (LF_REQUEST_MAX);
	case LV_UPSTREAM_ADDR:
		return (LF_NAME_MAX);
	case LV_REQUEST_ID:
		return (LF_ID_MAX);
	case LV_HTTP:
		return (LF_FIELD_MAX);
	default:
		/* An address, a time, a number, a short word. */
		return (LF_VALUE_MAX);
	}
}

static int
is_name_char(unsigned char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_');
}

/* The slot of request field name (lowercase, '-'), added if new; -1 when
 * every slot is taken. */
static int
field_slot(struct log_format *f, const char *name, size_t len)
{
	char	 field[sizeof(f->hdr[0])];
	size_t	 i;
	int	 k;

	for (i = 0; i < len; i++) {
		field[i] = name[i] == '_' ? '-' : name[i];
		if (field[i] >= 'A' && field[i] <= 'Z')
			field[i] = (char)(field[i] - 'A' + 'a');
	}
	field[len] = '\0';
	for (k = 0; k < f->nhdr; k++)
		if (strcmp(f->hdr[k], field) == 0)
			return (k);
	if (f->nhdr == LF_MAX_FIELDS)
		return (-1);
	memcpy(f->hdr[f->nhdr], field, len + 1);
	f->hdrlen[f->nhdr] = (uint8_t)len;
	return (f->nhdr++);
}

/* The variable name[0..len) as the op that has the text before it (set
 * by the caller); NULL or a reason in buf. */
static const char *
add_var(struct log_format *f, const char *name, size_t len, char *buf,
    size_t buflen)
{
	struct lf_op	*op = &f->ops[f->nops];
	int		 v, slot = -1;

	if (len > 5 && strncmp(name, "http_", 5) == 0) {
		if (len - 5 >= sizeof(f->hdr[0]))
			return ("names a request field longer than 63 bytes");
		slot = field_slot(f, name + 5, len - 5);
	} else if (len == 4 && strncmp(name, "host", 4) == 0)
		slot = field_slot(f, name, len);
	else {
		for (v = 1; v < LV_HTTP; v++)
			if (strlen(lf_var_names[v]) == len &&
			    strncmp(lf_var_names[v], name, len) == 0)
				break;
		if (v == LV_HTTP) {
			snprintf(buf, buflen, "has an unknown variable $%.*s",
			    len > 64 ? 64 : (int)len, name);
			return (buf);
		}
		op->var = (uint8_t)v;
		f->uses |= 1u << v;
		f->nops++;
		return (NULL);
	}
	if (slot == -1) {
		snprintf(buf, buflen, "names more than %d request fields "
		    "($http_NAME, $host)", LF_MAX_FIELDS);
		return (buf);
	}
	op->var = LV_HTTP;
	op->slot = (uint8_t)slot;
	f->uses |= 1u << LV_HTTP;
	f->nops++;
	return (NULL);
}

/* The text[*lit..n) gathered since the last variable goes before the
 * next op. */
static void
end_literal(struct log_format *f, size_t *lit, size_t n)
{
	struct lf_op	*op = &f->ops[f->nops];

	op->var = LV_LITERAL;
	op->slot = 0;
	op->s = f->text + *lit;
	op->len = (uint16_t)(n - *lit);
	*lit = n;
}

/* Parse the variable at s ('$' skipped); the bytes it took in *used. */
static const char *
parse_var(struct log_format *f, const char *s, size_t *used, char *buf,
    size_t buflen)
{
	const char	*name = s, *end;
	size_t		 len;

	if (*s == '\0')
		return ("ends with '$' (write $$ for a '$')");
	if (*s == '{') {
		name = s + 1;
		if ((end = strchr(name, '}')) == NULL)
			return ("has '${' without its '}'");
		len = (size_t)(end - name);
		*used = len + 2;
	} else {
		for (len = 0; is_name_char((unsigned char)s[len]); len++)
			;
		*used = len;
	}
	if (len == 0)
		return ("has a '$' without a variable name (write $$ for "
		    "a '$')");
	for (end = name; end < name + len; end++)
		if (!is_name_char((unsigned char)*end))
			return ("has a variable name with a byte other than "
			    "a letter, a digit or '_'");
	return (add_var(f, name, len, buf, buflen));
}

struct log_format *
log_format_compile(const char *src, char *buf, size_t buflen,
    const char **why)
{
	static uint32_t		 serial;
	struct log_format	*f;
	size_t			 srclen = strlen(src), n = 0, lit = 0;
	size_t			 used;
	const char		*s = src;

	int			 i;

	*why = NULL;
	if (srclen >= LF_LINE_MAX) {
		snprintf(buf, buflen, "is longer than %d bytes",
		    LF_LINE_MAX - 1);
		*why = buf;
		return (NULL);
	}
	/* LF_PAD zeros after the literals: copied, never used. */
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->text = calloc(1, srclen + LF_PAD)) == NULL ||
	    (f->ops = calloc(srclen + 1, sizeof(*f->ops))) == NULL)
		goto fail;
	while (*s != '\0') {
		if (*s != '$') {
			f->text[n++] = *s++;
			continue;
		}
		if (s[1] == '$') {
			/* "$$": one '$', part of the literal around it. */
			f->text[n++] = '$';
			s += 2;
			continue;
		}
		end_literal(f, &lit, n);
		if ((*why = parse_var(f, s + 1, &used, buf, buflen)) != NULL)
			goto fail;
		s += 1 + used;
	}
	/* The text after the last variable: an op without one. */
	end_literal(f, &lit, n);
	if (f->ops[f->nops].len > 0)
		f->nops++;
	f->maxlen = 1;
	for (i = 0; i < f->nops; i++)
		f->maxlen += f->ops[i].len +
		    (uint32_t)log_format_var_max(f->ops[i].var);
	if (f->maxlen > LF_LINE_MAX) {
		snprintf(buf, buflen, "makes lines that could be longer than "
		    "%d bytes (%u: $request %d, $http_NAME %d, other "
		    "variables up to %d)", LF_LINE_MAX, f->maxlen,
		    LF_REQUEST_MAX, LF_FIELD_MAX, LF_NAME_MAX);
		*why = buf;
		goto fail;
	}	/* Unique, never 0: a client's "nothing captured". */
	if (++serial == 0)
		serial = 1;
	f->serial = serial;
	return (f);
fail:
	log_format_free(f);
	return (NULL);
}

void
log_format_free(struct log_format *f)
{
	if (f == NULL)
		return;
	free(f->text);
	free(f->ops);
	free(f);
}
