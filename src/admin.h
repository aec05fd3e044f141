/*
 * admin.h: the admin listener (L5), an HTTP/1.1 endpoint on admin.address
 * served by the main thread's event loop: GET /health (vane's own
 * liveness), GET /stats (JSON, with the cache store's own numbers) and
 * /metrics, POST /servers/NAME/drain and /enable (deprecated aliases:
 * /backends/NAME/drain and /ready), and the cache purges: PURGE <url> and
 * POST /purge?url=URL&tag=TAG, through a store handle of the main
 * thread's own. With admin.token set, every request but GET /health must
 * carry Authorization: Bearer TOKEN, else 401. One request per
 * connection, always answered with Connection: close. Requests are
 * dispatched through one table of (method, path pattern, handler) in
 * admin.c.
 *
 * Also the client side of vane -s drain:NAME / enable:NAME (ready:NAME,
 * its old name) / stats / purge:URL / purge-tag:TAG, which talks to the
 * admin listener of the running instance, with the token of the file.
 */
#ifndef VANE_ADMIN_H
#define VANE_ADMIN_H

struct config;
struct event_base;

/*
 * Bind and listen on admin.address, if it is set; call before dropping
 * privileges and before daemonizing. Returns 0 (also when there is no
 * admin listener), or -1 after logging one line with the address and the
 * reason.
 */
int	admin_init(void);
/* Serve the bound socket on base (the main thread's), opening the admin
 * thread's store handle when there is a cache. Returns 0 or -1. */
int	admin_start(struct event_base *base);
/* Close the listener, every admin connection and the store handle; safe
 * without init. */
void	admin_stop(void);

/*
 * vane -s CMD, CMD one of "drain:NAME", "enable:NAME" ("ready:NAME"),
 * "stats", "purge:URL" (URL absolute, under 2 KiB) or "purge-tag:TAG": send
 * the request to cfg's admin.address with cfg's admin.token, if any, on a
 * blocking socket (5 s bound), print
 * the answer's body to stdout. Returns the exit status: 0 when the answer
 * is 200, 1 otherwise (with a line on stderr), 2 for a CMD not understood.
 */
int	admin_command(const struct config *cfg, const char *cmd);
/* GET /reload of the instance cfg names: 0 with the generation in force,
 * the failed reloads and the last one's reason (err, "" if none), or -1
 * when there is no admin listener or it does not answer. */
int	admin_reload_state(const struct config *cfg, unsigned *gen,
	    unsigned *failures, char *err, size_t errlen);

#endif
