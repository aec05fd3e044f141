/*
 * log_format.h: log.access_format compiled (L1). The format is nginx's
 * log_format syntax: text with $name or ${name} variables, $$ for a '$'.
 * It is compiled once, when the configuration is loaded, into a list of
 * ops (a literal span or a variable), so writing a line is a walk over
 * the list with no parsing and no lookup by name.
 */
#ifndef VANE_LOG_FORMAT_H
#define VANE_LOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Keep in the order of lf_var_names[] in log_format.c. */
enum lf_var {
	LV_LITERAL = 0,		/* no variable: only the op's text */
	LV_REMOTE_ADDR,
	LV_REMOTE_PORT,
	LV_TIME_LOCAL,		/* 26/Nov/2026:17:40:26 +0000 */
	LV_TIME_ISO8601,	/* 2026-11-26T17:40:26+00:00 */
	LV_MSEC,		/* 1795714826.123 */
	LV_REQUEST,		/* the request line */
	LV_REQUEST_METHOD,
	LV_REQUEST_URI,
	LV_SERVER_PROTOCOL,
	LV_SCHEME,
	LV_STATUS,
	LV_BYTES_SENT,
	LV_BODY_BYTES_SENT,	/* LV_BYTES_SENT less the head */
	LV_REQUEST_LENGTH,
	LV_UPSTREAM_ADDR,
	LV_UPSTREAM_RESPONSE_TIME,
	LV_REQUEST_TIME,
	LV_CACHE_STATUS,
	LV_CONNECTION_REQUESTS,
	LV_CONNECTION,		/* a serial number per connection */
	LV_REQUEST_ID,		/* backends.request_id's value */
	LV_HTTP,		/* a request field: op.slot into hdr[] */
	LV_COUNT
};

/* Request fields a format may name ($http_NAME, $host): each one is
 * copied aside while the request head is at hand, escaped, at most
 * LF_FIELD_MAX bytes ("..." included). */
/* log.access_escape, in the order of its values in options.def. */
enum log_escape_mode { LOG_ESC_DEFAULT = 0, LOG_ESC_JSON };

#define LF_MAX_FIELDS	8
#define LF_FIELD_MAX	159
/* The longest value of each variable: the request line (and so each of
 * its parts), a server name (cut there), the rest. */
#define LF_REQUEST_MAX	320
#define LF_NAME_MAX	64
#define LF_ID_MAX	64	/* a request ID */
#define LF_VALUE_MAX	48
/*
 * The longest line, newline included. A format whose longest line could
 * be longer is refused, so that a line is formatted with no bounds check
 * per piece: the writer reserves f->maxlen bytes and LF_PAD more, as the
 * short copies move LF_PAD bytes at a time (the literals too have LF_PAD
 * readable bytes after them).
 */
#define LF_LINE_MAX	4096
#define LF_PAD		32

/* The text before a variable and the variable: "upstream=$upstream_addr"
 * is one op, so a line takes a turn of the loop per variable. */
struct lf_op {
	const char	*s;	/* the text, copied as it is */
	uint16_t	 len;	/* its length, maybe 0 */
	uint8_t		 var;	/* enum lf_var, after the text */
	uint8_t		 slot;	/* LV_HTTP: index into hdr */
};

struct log_format {
	uint32_t	 serial;	/* unique per compiled format */
	uint32_t	 uses;		/* bit 1 << var per variable used */
	uint32_t	 maxlen;	/* the longest line, newline included */
	int		 nops;
	int		 nhdr;
	char		 hdr[LF_MAX_FIELDS][64];	/* "user-agent" */
	uint8_t		 hdrlen[LF_MAX_FIELDS];
	char		*text;		/* the literals, end to end */
	struct lf_op	*ops;
};

/*
 * Compile src. Returns the format, or NULL with a reason in why (static
 * text or buf, "has an unknown variable $foo"): to follow "option 'x' ".
 * NULL with why NULL: out of memory.
 */
struct log_format	*log_format_compile(const char *src, char *buf,
			    size_t buflen, const char **why);
void			 log_format_free(struct log_format *f);
/* "remote_addr" for LV_REMOTE_ADDR; "literal" and "http_" for the rest. */
const char		*log_format_var_name(int var);
/* The longest value variable var can have in a line. */
size_t			 log_format_var_max(int var);

#endif
