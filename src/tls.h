/*
 * tls.h: TLS termination and TLS to backends (L2), the only part of
 * vane that includes OpenSSL. Nothing here names an OpenSSL type, so
 * io.c, client.c and upstream.c stay free of it.
 *
 *   struct tls_ctx   the server side of every "tls = true" listener, made
 *                    from the configuration: one OpenSSL context per
 *                    certificate name set (an RSA and an ECDSA certificate
 *                    for the same names share one), the protocol and
 *                    cipher settings, session cache and tickets. Shared
 *                    by every worker (OpenSSL contexts are thread-safe).
 *   struct tls_client the client side towards one backend server with
 *                    "tls = true": its own OpenSSL context (TLS 1.2+,
 *                    verification against the configured or the system
 *                    CAs, the name to send and check) and the session of
 *                    its latest connection, which the next one resumes.
 *                    Shared by every worker and the health checks.
 *   struct tls_conn  one connection, used by its worker's thread only.
 *
 * SNI picks the certificate: the first whose names match the requested
 * one exactly, else the first that matches it with a wildcard (RFC 6125,
 * tls_name.h), else the first certificate of the list. ALPN: http/1.1 is
 * the only protocol offered; a client that offers only others gets no
 * ALPN answer and may go on or close. Session tickets are encrypted with
 * keys this process makes and rotates every tls.session_timeout (the
 * current and the previous key are accepted), shared by all workers, so
 * a client resumes whichever worker it lands on; a session cache serves
 * TLS 1.2 clients that resume by session ID. No renegotiation, no
 * compression, no 0-RTT.
 *
 * Reads and writes go through our own BIO over the socket: recv/send
 * with MSG_NOSIGNAL, and it tells io.c when the kernel had no more to
 * read (a short read or EAGAIN), so that edge-triggered reading stops
 * without a read that only meets EAGAIN, as with plain sockets.
 */
#ifndef VANE_TLS_H
#define VANE_TLS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct stats;
struct tls_ctx;
struct tls_client;
struct tls_conn;

/* What a handshake, read or write step did. */
enum tls_status {
	TLS_OK = 0,		/* done, or bytes moved */
	TLS_WANT_READ,		/* wait until the socket is readable */
	TLS_WANT_WRITE,		/* wait until it is writable */
	TLS_EOF,		/* the peer closed (close_notify or FIN) */
	TLS_ERROR		/* failed: tls_conn_error() says why */
};

/*
 * The server context of cfg's tls.* options and certificates. NULL with
 * "FILE:LINE: message" in err when a certificate or key cannot be read,
 * does not parse, does not match its key, has expired, or a setting is
 * refused by OpenSSL. Called by "vane -t" as well as at start-up.
 */
struct tls_ctx	*tls_ctx_new(const struct config *cfg, char *err,
		    size_t errlen);
/* Drop the caller's reference; the last one frees (NULL is fine). */
void		 tls_ctx_free(struct tls_ctx *ctx);

/* A server connection over fd (non-blocking, owned by the caller), with
 * ctx (it takes a reference: a generation retired by a reload may free
 * its context while connections still use it) and the settings of
 * cfg->listen[listener] (client certificates); its handshake counts into
 * st (the worker's counters). NULL: no memory. */
struct tls_conn	*tls_conn_new(struct tls_ctx *ctx, int fd, struct stats *st,
		    int listener);
/* Count into st from now on (the connection moved to another worker). */
void		 tls_conn_set_stats(struct tls_conn *tc, struct stats *st);
/*
 * Free the connection (not the descriptor). graceful: the handshake was
 * done and nothing failed, so send close_notify first (one attempt, no
 * waiting).
 */
void		 tls_conn_free(struct tls_conn *tc, int graceful);

/*
 * The client side towards one backend server. ca_file: PEM file of the
 * trusted authorities (NULL: the system's). name: sent as SNI and checked
 * against the certificate's dNSNames, or, for an IP address, checked
 * against its iPAddresses and not sent (RFC 6066 §3). verify 0: accept
 * any certificate. NULL with a message in err ("tls_ca FILE: reason")
 * when the CA file cannot be read or holds no certificate.
 */
struct tls_client *tls_client_new(const char *ca_file, const char *name,
		    int verify, char *err, size_t errlen);
void		 tls_client_free(struct tls_client *cl);
/*
 * A client connection over fd (non-blocking, connected or connecting,
 * owned by the caller) that resumes cl's latest session, if any. Its
 * handshake counts into st's backend_tls_* counters (NULL: uncounted,
 * the health checks). NULL: no memory.
 */
struct tls_conn	*tls_conn_client(struct tls_client *cl, int fd,
		    struct stats *st);

/* One step of the handshake (server or client). A client's failed
 * verification says why in tls_conn_error ("certificate verify failed:
 * hostname mismatch"). */
enum tls_status	 tls_handshake(struct tls_conn *tc);
/*
 * Read decrypted bytes into buf[0..len): *got bytes on TLS_OK. *drained
 * is set when the kernel had nothing more to give and OpenSSL holds no
 * unread bytes: no data is pending until the next readable edge.
 */
enum tls_status	 tls_read(struct tls_conn *tc, void *buf, size_t len,
		    size_t *got, int *drained);
/*
 * Write buf[0..len) as TLS records: *written bytes on TLS_OK (whole
 * records; maybe fewer than len). After TLS_WANT_WRITE the next call
 * must pass the same len bytes (at any address).
 */
enum tls_status	 tls_write(struct tls_conn *tc, const void *buf, size_t len,
		    size_t *written);
/* Why the last step failed, for the log ("" if it did not). */
const char	*tls_conn_error(const struct tls_conn *tc);
/* The subject of the client certificate the listener's client_ca
 * verified (RFC 2253, printable ASCII only), or NULL. */
const char	*tls_conn_subject(const struct tls_conn *tc);
/* The negotiated protocol ("TLSv1.3"), once the handshake is done. */
const char	*tls_conn_version(const struct tls_conn *tc);

/* "OpenSSL 3.0.x ..." for vane -V. */
const char	*tls_library_version(void);

#endif
