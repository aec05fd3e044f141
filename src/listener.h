/*
 * listener.h: the listening sockets (L5). They are bound in the main
 * thread before the workers start, so that an address in use is a clear
 * start-up error; with several workers each gets its own socket on the
 * same address (SO_REUSEPORT) and the kernel spreads connections.
 */
#ifndef VANE_LISTENER_H
#define VANE_LISTENER_H

#include <stddef.h>

struct config;

struct lsock {
	char	 name[64];	/* "127.0.0.1:8080" */
	int	*fds;		/* one per worker */
	int	 tls;		/* speak TLS (listen.tls) */
	int	 index;		/* in cfg->listen */
	int	 redirect_https;	/* answer with a redirect to https */
	int	 https_port;	/* the first TLS listener's port, or 443 */
	char	 fields[320];	/* field lines every response gets (HSTS) */
};

/* Returns 0, or -1 with a message in err. */
int	listeners_open(const struct config *cfg, int nworkers,
	    struct lsock **out, int *nout, char *err, size_t errlen);
void	listeners_free(struct lsock *ls, int n, int nworkers);

#endif
