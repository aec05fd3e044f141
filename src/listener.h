/*
 * listener.h: the listening sockets (L5). They are bound in the main
 * thread before the workers start, so that an address in use is a clear
 * start-up error; with several workers each gets its own socket on the
 * same address (SO_REUSEPORT) and the kernel spreads connections.
 */
#ifndef VANE_LISTENER_H
#define VANE_LISTENER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct config;

/*
 * The counters of one listening address, for /stats and /metrics: any
 * worker adds (relaxed atomics). A reload that keeps the address shares
 * them between the two generations (refs), so they never go back and a
 * connection that moves stays counted once.
 */
struct lstats {
	_Atomic uint64_t	 accepted;	/* connections */
	_Atomic uint64_t	 requests;	/* request heads parsed */
	atomic_int		 active;	/* connections open now */
	atomic_int		 refs;
};

struct lsock {
	char	 name[64];	/* "127.0.0.1:8080" */
	struct sockaddr_storage ss;	/* the address bound */
	socklen_t sslen;
	int	*fds;		/* one per worker; owned here, -1: none */
	int	 tls;		/* speak TLS (listen.tls) */
	int	 index;		/* in cfg->listen */
	int	 redirect_https;	/* answer with a redirect to https */
	int	 proxy_protocol;	/* connections start with a PROXY header */
	int	 https_port;	/* the first TLS listener's port, or 443 */
	char	 fields[320];	/* field lines every response gets (HSTS) */
	struct lstats *st;
};

/*
 * The sockets of cfg->listen. On a reload, old/nold are the running
 * generation's: an address bound there keeps its sockets (taken from old,
 * whose fds become -1), so connections waiting in their accept queues are
 * neither refused nor reset; only new addresses are bound. Returns 0, or
 * -1 with "FILE:LINE: message" in err and old untouched.
 */
int	listeners_open(const struct config *cfg, int nworkers,
	    struct lsock *old, int nold, struct lsock **out, int *nout,
	    char *err, size_t errlen);
/* The listener of ls[0..n) bound to the address ss, or NULL. */
struct lsock	*listeners_find(struct lsock *ls, int n,
		    const struct sockaddr_storage *ss, socklen_t len);
/* Undo the taking over of listeners_open: old's sockets back to it (a
 * reload that failed after binding). */
void	listeners_return(struct lsock *ls, int n, struct lsock *old, int nold,
	    int nworkers);
void	listeners_free(struct lsock *ls, int n, int nworkers);

#endif
