/*
 * tls.c: TLS termination, and TLS to backend servers, over OpenSSL 3.
 * See tls.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "log.h"
#include "stats.h"
#include "tls.h"
#include "tls_name.h"
#include "util.h"

#define TLS_MAX_NAMES	64	/* names kept per certificate for SNI */
#define SID_CONTEXT	"vane"

/* One OpenSSL context: a certificate (or an RSA and an ECDSA one) for a
 * set of names. */
/* An OCSP response to staple when leaf is the certificate sent. */
struct tls_staple {
	X509		*leaf;
	unsigned char	*der;
	long		 len;
};

struct tls_site {
	SSL_CTX		*ssl;
	struct tls_staple staples[2];	/* one per key type */
	int		 nstaples;
	char		**names;	/* dNSNames (or the CN) */
	int		 nnames;
	int		 types;		/* key types loaded: bits of KT_* */
};

#define KT_RSA		1
#define KT_EC		2
#define KT_OTHER	4

/* Per listener (by its index in cfg->listen): client certificates. */
struct tls_lis {
	X509_STORE		*store;	/* client_ca; NULL: none asked */
	STACK_OF(X509_NAME)	*names;	/* its subjects, for the request */
	char			 sid[32];	/* session ID context */
};

struct tls_ctx {
	_Atomic int	 refs;		/* its generation's, one per connection */
	struct tls_site	*sites;		/* [0]: the default */
	int		 nsites;
	struct tls_lis	*lis;
	int		 nlis;
};

/* The client side towards one backend server (tls.h). */
struct tls_client {
	SSL_CTX		*ssl;
	char		*name;		/* SNI and the name checked */
	int		 name_is_ip;
	int		 verify;
	pthread_mutex_t	 lock;		/* sess: workers are threads */
	unsigned char	*sess;		/* the latest session, DER; or NULL */
	size_t		 sesslen;
};

struct tls_conn {
	SSL		*ssl;
	struct tls_ctx	*ctx;		/* a reference: sni_cb reads it */
	X509_STORE	*store;		/* client CAs (ctx's), or NULL */
	char		*subject;	/* of the verified client certificate */
	struct tls_client *client;	/* set on client connections */
	int		 fd;
	struct stats	*st;		/* NULL: not counted */
	unsigned	 done:1;	/* handshake finished */
	unsigned	 failed:1;
	unsigned	 drained:1;	/* the last recv took all there was */
	char		 why[160];
};

/* ------------------------------------------------------ ticket keys */

/*
 * Session ticket keys: made here, never configured, shared by every
 * context and worker of the process; a new one every rotate seconds
 * (tls.session_timeout), the previous one still accepted (its tickets
 * are renewed).
 */
struct tkey {
	unsigned char	name[16];
	unsigned char	aes[32];
	unsigned char	hmac[32];
	time_t		made;
};

static pthread_rwlock_t	tk_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct tkey	tk_cur, tk_prev;
static int		tk_have;
static time_t		tk_rotate = 3600;
/* Fetched once: an OpenSSL 3 fetch by name on every ticket costs more
 * than the ticket's own encryption. */
static EVP_CIPHER	*tk_cipher;
static OSSL_PARAM	 tk_mac_params[2];

static int
tk_make(struct tkey *k, time_t now)
{
	if (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
	    RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
	    RAND_bytes(k->hmac, sizeof(k->hmac)) != 1)
		return (-1);
	k->made = now;
	return (0);
}

/* Rotate when due; 0, or -1 when no key could be made. */
static int
tk_check(time_t now)
{
	struct tkey k;
	int ok;

	pthread_rwlock_rdlock(&tk_lock);
	ok = tk_have && now - tk_cur.made < tk_rotate;
	pthread_rwlock_unlock(&tk_lock);
	if (ok)
		return (0);
	if (tk_make(&k, now) == -1)
		return (-1);
	pthread_rwlock_wrlock(&tk_lock);
	if (!tk_have || now - tk_cur.made >= tk_rotate) {
		tk_prev = tk_have ? tk_cur : k;
		tk_cur = k;
		tk_have = 1;
	}
	pthread_rwlock_unlock(&tk_lock);
	OPENSSL_cleanse(&k, sizeof(k));
	return (0);
}

static int
tk_setup(const struct tkey *k, unsigned char *iv, EVP_CIPHER_CTX *cctx,
    EVP_MAC_CTX *hctx, int enc)
{
	if (EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), tk_mac_params) != 1)
		return (-1);
	if (enc)
		return (EVP_EncryptInit_ex(cctx, tk_cipher, NULL, k->aes, iv) ==
		    1 ? 0 : -1);
	return (EVP_DecryptInit_ex(cctx, tk_cipher, NULL, k->aes, iv) == 1 ?
	    0 : -1);
}

/*
 * SSL_CTX_set_tlsext_ticket_key_evp_cb: 1 ok, 2 ok and renew, 0 not
 * ours (full handshake), -1 error. A TLS 1.3 resumption always gets a
 * new ticket (renew): clients use a ticket once (RFC 8446 §C.4) and would
 * otherwise fall back to a full handshake every other connection.
 */
static int
ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct tkey k;
	int rc = 0;

	if (tk_cipher == NULL || tk_check(time(NULL)) == -1)
		return (-1);
	pthread_rwlock_rdlock(&tk_lock);
	if (enc) {
		k = tk_cur;
		rc = 1;
	} else if (memcmp(name, tk_cur.name, 16) == 0) {
		k = tk_cur;
		rc = SSL_version(ssl) == TLS1_3_VERSION ? 2 : 1;
	} else if (memcmp(name, tk_prev.name, 16) == 0) {
		k = tk_prev;
		rc = 2;
	}
	pthread_rwlock_unlock(&tk_lock);
	if (rc == 0)
		return (0);
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(tk_cipher)) != 1)
			rc = -1;
	}
	if (rc != -1 && tk_setup(&k, iv, cctx, hctx, enc) == -1)
		rc = -1;
	OPENSSL_cleanse(&k, sizeof(k));
	return (rc);
}

/* ---------------------------------------------------------- the BIO */

/*
 * Our BIO over the socket: recv/send with MSG_NOSIGNAL, and "drained"
 * when a recv returned less than asked or EAGAIN (the edge-triggered
 * reader's rule, see io.c).
 */
static BIO_METHOD	*bio_meth;
static pthread_once_t	 setup_once = PTHREAD_ONCE_INIT;

static int
bio_read(BIO *b, char *buf, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return (0);
	tc->drained = 0;
	n = recv(tc->fd, buf, (size_t)len, 0);
	if (n > 0) {
		if (n < len)
			tc->drained = 1;
		return ((int)n);
	}
	if (n == 0) {
		tc->drained = 1;
		return (0);
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		tc->drained = errno != EINTR;
		BIO_set_retry_read(b);
	}
	return (-1);
}

static int
bio_write(BIO *b, const char *buf, int len)
{
	struct tls_conn *tc = BIO_get_data(b);
	ssize_t n;

	BIO_clear_retry_flags(b);
	if (len <= 0)
		return (0);
	n = send(tc->fd, buf, (size_t)len, MSG_NOSIGNAL);
	if (n >= 0)
		return ((int)n);
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		BIO_set_retry_write(b);
	return (-1);
}

static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	switch (cmd) {
	case BIO_CTRL_FLUSH:
	case BIO_CTRL_DUP:
		return (1);
	default:
		return (0);
	}
}

static int
bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return (1);
}

/* Once per process: the ticket cipher, the BIO method. */
static void
setup(void)
{
	tk_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	tk_mac_params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	tk_mac_params[1] = OSSL_PARAM_construct_end();
	bio_meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
	    "vane socket");
	if (bio_meth == NULL)
		return;
	BIO_meth_set_read(bio_meth, bio_read);
	BIO_meth_set_write(bio_meth, bio_write);
	BIO_meth_set_ctrl(bio_meth, bio_ctrl);
	BIO_meth_set_create(bio_meth, bio_create);
}

/* ------------------------------------------------------- the context */

/* The first OpenSSL error in the queue, as text (queue emptied). */
static const char *
ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();
	const char *r;

	if (e == 0) {
		snprintf(buf, len, "unknown error");
	} else if ((r = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, len, "%s", r);
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return (buf);
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return (SSL_TLSEXT_ERR_NOACK);
	*out = sel;
	return (SSL_TLSEXT_ERR_OK);
}

/* The site for the name the client asked for. */
static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_ctx *ctx = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	int i, j, m, best = 0, how = TLS_NAME_NONE;
	size_t len;

	(void)alert;
	if (name == NULL || ctx->nsites < 2)
		return (SSL_TLSEXT_ERR_OK);
	len = strlen(name);
	for (i = 0; i < ctx->nsites && how != TLS_NAME_EXACT; i++)
		for (j = 0; j < ctx->sites[i].nnames; j++) {
			m = tls_name_match(ctx->sites[i].names[j],
			    strlen(ctx->sites[i].names[j]), name, len);
			if (m > how) {
				how = m;
				best = i;
				if (m == TLS_NAME_EXACT)
					break;
			}
		}
	if (SSL_get_SSL_CTX(ssl) != ctx->sites[best].ssl) {
		struct tls_conn *tc = SSL_get_app_data(ssl);

		SSL_set_SSL_CTX(ssl, ctx->sites[best].ssl);
		/* The switch replaces the connection's certificate settings,
		 * its verify store among them. */
		if (tc != NULL && tc->store != NULL &&
		    SSL_set1_verify_cert_store(ssl, tc->store) != 1)
			return (SSL_TLSEXT_ERR_ALERT_FATAL);
	}
	return (SSL_TLSEXT_ERR_OK);
}

static int
key_type(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "RSA"))
		return (KT_RSA);
	if (EVP_PKEY_is_a(k, "EC"))
		return (KT_EC);
	return (KT_OTHER);
}

/* The dNSNames of x (or its CN without any), malloc'd. */
static int
cert_names(X509 *x, char ***namesp)
{
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	char **names = xcalloc(TLS_MAX_NAMES, sizeof(*names));
	int i, n = 0, len;
	char cn[256];

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) &&
	    n < TLS_MAX_NAMES; i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		len = ASN1_STRING_length(g->d.dNSName);
		if (len <= 0 || memchr(ASN1_STRING_get0_data(g->d.dNSName),
		    '\0', (size_t)len) != NULL)
			continue;	/* not a name anyone can ask for */
		names[n] = xmalloc((size_t)len + 1);
		memcpy(names[n], ASN1_STRING_get0_data(g->d.dNSName),
		    (size_t)len);
		names[n++][len] = '\0';
	}
	GENERAL_NAMES_free(gens);
	if (n == 0 && X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, cn, sizeof(cn)) > 0)
		names[n++] = xstrdup(cn);
	*namesp = names;
	return (n);
}

static int
same_names(char **a, int na, char **b, int nb)
{
	int i;

	if (na != nb)
		return (0);
	for (i = 0; i < na; i++)
		if (strcasecmp(a[i], b[i]) != 0)
			return (0);
	return (1);
}

static void
site_free(struct tls_site *s)
{
	int i;

	for (i = 0; i < s->nstaples; i++) {
		X509_free(s->staples[i].leaf);
		free(s->staples[i].der);
	}
	SSL_CTX_free(s->ssl);
	for (i = 0; i < s->nnames; i++)
		free(s->names[i]);
	free(s->names);
}

/* The settings every context shares. -1 with a message in err. */
static int
ctx_settings(SSL_CTX *ssl, const struct config *cfg, struct tls_ctx *ctx,
    char *err, size_t errlen)
{
	char why[160];
	int max = 0, min = TLS1_2_VERSION;

	switch (cfg->tls_protocols) {
	case CFG_TLS_13:
		min = max = TLS1_3_VERSION;
		break;
	case CFG_TLS_12:
		min = max = TLS1_2_VERSION;
		break;
	default:
		break;
	}
	SSL_CTX_set_min_proto_version(ssl, min);
	SSL_CTX_set_max_proto_version(ssl, max);
	SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_SINGLE_ECDH_USE | (cfg->tls_session_tickets ? 0 :
	    SSL_OP_NO_TICKET));
	/* RELEASE_BUFFERS: an idle connection holds no 16K record buffers
	 * (10k idle clients: 340 MB less). A TLS hit costs 5% more
	 * instructions for it (21230 against 22370, callgrind). */
	SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(ssl, 1);
	SSL_CTX_set_max_early_data(ssl, 0);
	SSL_CTX_set_num_tickets(ssl, cfg->tls_session_tickets ? 1 : 0);
	if (cfg->tls_ciphers != NULL &&
	    SSL_CTX_set_cipher_list(ssl, cfg->tls_ciphers) != 1) {
		snprintf(err, errlen, "%s: tls.ciphers: %s",
		    config_where(cfg, "tls.ciphers"), ssl_reason(why,
		    sizeof(why)));
		return (-1);
	}
	if (cfg->tls_ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ssl, cfg->tls_ciphersuites) != 1) {
		snprintf(err, errlen, "%s: tls.ciphersuites: %s",
		    config_where(cfg, "tls.ciphersuites"), ssl_reason(why,
		    sizeof(why)));
		return (-1);
	}
	SSL_CTX_set_session_id_context(ssl, (const unsigned char *)SID_CONTEXT,
	    sizeof(SID_CONTEXT) - 1);
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ssl, cfg->tls_session_cache);
	SSL_CTX_set_timeout(ssl, (long)(cfg->tls_session_timeout / 1000));
	if (cfg->tls_session_tickets)
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ssl, ticket_cb);
	SSL_CTX_set_alpn_select_cb(ssl, alpn_cb, NULL);
	SSL_CTX_set_tlsext_servername_callback(ssl, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ssl, ctx);
	return (0);
}

/* The status request of a client (OCSP stapling): the response read
 * for the certificate being sent, if any. */
static int
status_cb(SSL *ssl, void *arg)
{
	struct tls_site *s = arg;
	X509 *x = SSL_get_certificate(ssl);
	unsigned char *copy;
	int i;

	for (i = 0; x != NULL && i < s->nstaples; i++) {
		if (X509_cmp(x, s->staples[i].leaf) != 0)
			continue;
		if ((copy = OPENSSL_memdup(s->staples[i].der,
		    (size_t)s->staples[i].len)) == NULL)
			return (SSL_TLSEXT_ERR_NOACK);
		SSL_set_tlsext_status_ocsp_resp(ssl, copy, s->staples[i].len);
		return (SSL_TLSEXT_ERR_OK);
	}
	return (SSL_TLSEXT_ERR_NOACK);
}

/*
 * Read certificate c's OCSP response file and check it: it parses, says
 * successful, is within its validity, and (when the chain holds the
 * issuer) names this certificate as good. 0, or -1 with why.
 */
static int
load_staple(struct tls_site *s, const struct config *cfg,
    const struct cfg_cert *c, X509 *leaf, char *err, size_t errlen)
{
	STACK_OF(X509) *chain = NULL;
	OCSP_RESPONSE *r = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *thisupd, *nextupd;
	const unsigned char *p;
	unsigned char buf[65536];
	const char *why = NULL;
	X509 *issuer = NULL;
	size_t n = 0;
	FILE *fp;
	int i, status = -1, reason;

	if ((fp = fopen(c->ocsp, "rb")) == NULL) {
		snprintf(err, errlen, "%s:%d: ocsp %s: %s", cfg->path, c->line,
		    c->ocsp, strerror(errno));
		return (-1);
	}
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	p = buf;
	if (n == 0 || n == sizeof(buf) ||
	    (r = d2i_OCSP_RESPONSE(NULL, &p, (long)n)) == NULL)
		why = "not a DER OCSP response";
	else if (OCSP_response_status(r) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
		why = "the responder did not answer successfully";
	else if ((bs = OCSP_response_get1_basic(r)) == NULL)
		why = "no basic response in it";
	if (why == NULL) {
		SSL_CTX_get0_chain_certs(s->ssl, &chain);
		for (i = 0; chain != NULL && i < sk_X509_num(chain); i++)
			if (X509_check_issued(sk_X509_value(chain, i), leaf) ==
			    X509_V_OK)
				issuer = sk_X509_value(chain, i);
		if (issuer != NULL &&
		    ((id = OCSP_cert_to_id(NULL, leaf, issuer)) == NULL ||
		    OCSP_resp_find_status(bs, id, &status, &reason, NULL,
		    &thisupd, &nextupd) != 1))
			why = "it is about another certificate";
		else if (issuer != NULL && status != V_OCSP_CERTSTATUS_GOOD)
			why = status == V_OCSP_CERTSTATUS_REVOKED ?
			    "the certificate is revoked" :
			    "the certificate's status is unknown";
		else if (issuer != NULL &&
		    OCSP_check_validity(thisupd, nextupd, 300, -1) != 1)
			why = "it has expired (or is not valid yet)";
		else if (issuer == NULL)
			log_warn("%s:%d: ocsp %s: the issuer of %s is not in "
			    "its chain: stapled without checking it is about "
			    "this certificate", cfg->path, c->line, c->ocsp,
			    c->cert);
	}
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(r);
	ERR_clear_error();
	if (why != NULL) {
		snprintf(err, errlen, "%s:%d: ocsp %s (of certificate %s): %s",
		    cfg->path, c->line, c->ocsp, c->cert, why);
		return (-1);
	}
	if (s->nstaples == 2)
		return (0);	/* one per key type; cannot happen */
	X509_up_ref(leaf);
	s->staples[s->nstaples].leaf = leaf;
	s->staples[s->nstaples].der = xmalloc(n);
	memcpy(s->staples[s->nstaples].der, buf, n);
	s->staples[s->nstaples++].len = (long)n;
	SSL_CTX_set_tlsext_status_cb(s->ssl, status_cb);
	SSL_CTX_set_tlsext_status_arg(s->ssl, s);
	return (0);
}

/* Load certificate i into ctx: into the site with the same names and no
 * key of its type yet, else a new site. */
static int
load_cert(struct tls_ctx *ctx, const struct config *cfg, int i, char *err,
    size_t errlen)
{
	const struct cfg_cert *c = &cfg->tls_certificates[i];
	struct tls_site *s = NULL;
	char why[160], **names = NULL, when[64];
	SSL_CTX *ssl = NULL;
	X509 *x = NULL;
	BIO *b;
	EVP_PKEY *pk;
	int j, n, kt;
	struct tm tm;

	/* Read the leaf first, for its names and dates. */
	if ((b = BIO_new_file(c->cert, "r")) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "%s:%d: certificate %s: %s", cfg->path,
		    c->line, c->cert, b == NULL ? strerror(errno) :
		    "no PEM certificate in it");
		BIO_free(b);
		ERR_clear_error();
		return (-1);
	}
	BIO_free(b);
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
			    &tm);
		else
			snprintf(when, sizeof(when), "an unknown date");
		snprintf(err, errlen, "%s:%d: certificate %s expired on %s",
		    cfg->path, c->line, c->cert, when);
		X509_free(x);
		return (-1);
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
		log_warn("%s:%d: certificate %s is not valid yet", cfg->path,
		    c->line, c->cert);
	pk = X509_get0_pubkey(x);
	kt = pk != NULL ? key_type(pk) : KT_OTHER;
	n = cert_names(x, &names);
	X509_free(x);
	for (j = 0; j < ctx->nsites; j++)
		if (!(ctx->sites[j].types & kt) && same_names(ctx->sites[j].names,
		    ctx->sites[j].nnames, names, n)) {
			s = &ctx->sites[j];
			break;
		}
	if (s == NULL) {
		if ((ssl = SSL_CTX_new(TLS_server_method())) == NULL ||
		    ctx_settings(ssl, cfg, ctx, err, errlen) == -1) {
			if (ssl == NULL)
				snprintf(err, errlen, "%s:%d: %s", cfg->path,
				    c->line, ssl_reason(why, sizeof(why)));
			SSL_CTX_free(ssl);
			for (j = 0; j < n; j++)
				free(names[j]);
			free(names);
			return (-1);
		}
		s = &ctx->sites[ctx->nsites++];	/* room for one per cert */
		memset(s, 0, sizeof(*s));
		s->ssl = ssl;
		s->names = names;
		s->nnames = n;
	} else {
		for (j = 0; j < n; j++)
			free(names[j]);
		free(names);
	}
	s->types |= kt;
	if (SSL_CTX_use_certificate_chain_file(s->ssl, c->cert) != 1) {
		snprintf(err, errlen, "%s:%d: certificate %s: %s", cfg->path,
		    c->line, c->cert, ssl_reason(why, sizeof(why)));
		return (-1);
	}
	if (SSL_CTX_use_PrivateKey_file(s->ssl, c->key, SSL_FILETYPE_PEM) !=
	    1) {
		ssl_reason(why, sizeof(why));
		if (strstr(why, "mismatch") != NULL)
			snprintf(err, errlen, "%s:%d: key %s does not match "
			    "certificate %s", cfg->path, c->line, c->key,
			    c->cert);
		else
			snprintf(err, errlen, "%s:%d: key %s (of certificate "
			    "%s): %s", cfg->path, c->line, c->key, c->cert,
			    why);
		return (-1);
	}
	if (SSL_CTX_check_private_key(s->ssl) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s:%d: key %s does not match "
		    "certificate %s", cfg->path, c->line, c->key, c->cert);
		return (-1);
	}
	/* The certificate just loaded is the context's current one, its
	 * chain the current chain. */
	if (c->ocsp != NULL && load_staple(s, cfg, c,
	    SSL_CTX_get0_certificate(s->ssl), err, errlen) == -1)
		return (-1);
	return (0);
}

/* Listener i's client certificate settings. */
static int
load_listener(struct tls_ctx *ctx, const struct config *cfg, int i,
    char *err, size_t errlen)
{
	const struct cfg_listen *l = &cfg->listen[i];
	struct tls_lis *tl = &ctx->lis[i];
	char why[160];

	/* Sessions never resume across listeners that ask for different
	 * client certificates: the session ID context tells them apart. */
	if (l->client_ca == NULL) {
		snprintf(tl->sid, sizeof(tl->sid), "%s", SID_CONTEXT);
		return (0);
	}
	snprintf(tl->sid, sizeof(tl->sid), "%s/mtls/%d", SID_CONTEXT, i);
	if ((tl->store = X509_STORE_new()) == NULL ||
	    X509_STORE_load_file(tl->store, l->client_ca) != 1 ||
	    (tl->names = SSL_load_client_CA_file(l->client_ca)) == NULL) {
		snprintf(err, errlen, "%s:%d: listen %s: client_ca %s: %s",
		    cfg->path, l->line, l->address.text, l->client_ca,
		    ERR_peek_error() != 0 ? ssl_reason(why, sizeof(why)) :
		    "no certificate in it");
		ERR_clear_error();
		return (-1);
	}
	return (0);
}

struct tls_ctx *
tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_ctx *ctx;
	int i;

	pthread_once(&setup_once, setup);
	if (bio_meth == NULL) {
		snprintf(err, errlen, "TLS: cannot set up: out of memory");
		return (NULL);
	}
	if (cfg->ntls_certificates == 0) {
		for (i = 0; i < cfg->nlisten && !cfg->listen[i].tls; i++)
			;
		snprintf(err, errlen, "%s:%d: listen %s: tls = true needs a "
		    "certificate in tls.certificates", cfg->path,
		    i < cfg->nlisten ? cfg->listen[i].line : 0,
		    i < cfg->nlisten ? cfg->listen[i].address.text : "");
		return (NULL);
	}
	tk_rotate = (time_t)(cfg->tls_session_timeout / 1000);
	if (tk_rotate < 1)
		tk_rotate = 1;
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->refs = 1;
	ctx->sites = xcalloc((size_t)cfg->ntls_certificates,
	    sizeof(*ctx->sites));
	for (i = 0; i < cfg->ntls_certificates; i++)
		if (load_cert(ctx, cfg, i, err, errlen) == -1) {
			tls_ctx_free(ctx);
			return (NULL);
		}
	ctx->lis = xcalloc((size_t)cfg->nlisten, sizeof(*ctx->lis));
	ctx->nlis = cfg->nlisten;
	for (i = 0; i < cfg->nlisten; i++)
		if (load_listener(ctx, cfg, i, err, errlen) == -1) {
			tls_ctx_free(ctx);
			return (NULL);
		}
	return (ctx);
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
	int i;

	if (ctx == NULL || atomic_fetch_sub(&ctx->refs, 1) != 1)
		return;
	for (i = 0; i < ctx->nsites; i++)
		site_free(&ctx->sites[i]);
	free(ctx->sites);
	for (i = 0; i < ctx->nlis; i++) {
		X509_STORE_free(ctx->lis[i].store);
		sk_X509_NAME_pop_free(ctx->lis[i].names, X509_NAME_free);
	}
	free(ctx->lis);
	free(ctx);
}

/* ---------------------------------------------------- connections */

void
tls_conn_set_stats(struct tls_conn *tc, struct stats *st)
{
	tc->st = st;
}

struct tls_conn *
tls_conn_new(struct tls_ctx *ctx, int fd, struct stats *st, int listener)
{
	STACK_OF(X509_NAME) *names;
	struct tls_lis *tl;
	struct tls_conn *tc;
	BIO *b;

	if (ctx == NULL)
		return (NULL);
	atomic_fetch_add(&ctx->refs, 1);
	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		tls_ctx_free(ctx);
		return (NULL);
	}
	tc->fd = fd;
	tc->st = st;
	tc->ctx = ctx;
	if ((tc->ssl = SSL_new(ctx->sites[0].ssl)) == NULL ||
	    (b = BIO_new(bio_meth)) == NULL) {
		SSL_free(tc->ssl);
		free(tc);
		tls_ctx_free(ctx);
		ERR_clear_error();
		return (NULL);
	}
	BIO_set_data(b, tc);
	SSL_set_bio(tc->ssl, b, b);
	SSL_set_app_data(tc->ssl, tc);
	SSL_set_accept_state(tc->ssl);
	if (listener < 0 || listener >= ctx->nlis)
		return (tc);
	tl = &ctx->lis[listener];
	SSL_set_session_id_context(tc->ssl, (const unsigned char *)tl->sid,
	    (unsigned int)strlen(tl->sid));
	if (tl->store != NULL) {
		if (SSL_set1_verify_cert_store(tc->ssl, tl->store) != 1 ||
		    (names = SSL_dup_CA_list(tl->names)) == NULL) {
			tls_conn_free(tc, 0);
			ERR_clear_error();
			return (NULL);
		}
		SSL_set_client_CA_list(tc->ssl, names);
		SSL_set_verify(tc->ssl, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		tc->store = tl->store;
	}
	return (tc);
}

void
tls_conn_free(struct tls_conn *tc, int graceful)
{
	if (tc == NULL)
		return;
	if (graceful && tc->done && !tc->failed)
		(void)SSL_shutdown(tc->ssl);	/* close_notify, no wait */
	SSL_free(tc->ssl);
	ERR_clear_error();
	tls_ctx_free(tc->ctx);
	free(tc->subject);
	free(tc);
}

/* ------------------------------------------------------ the client side */

/*
 * A new session from the server (with TLS 1.3 a ticket that comes after
 * the handshake, read with the response): keep the latest for the next
 * connection to this server. Kept encoded, and decoded by each connection
 * that resumes it (as HAProxy does): a connection then owns its session
 * object, never shared with another worker's thread. 0: OpenSSL keeps
 * its reference.
 */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_client *cl = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	unsigned char *der, *p, *old;
	int len;

	if (cl == NULL || !SSL_SESSION_is_resumable(sess) ||
	    (len = i2d_SSL_SESSION(sess, NULL)) <= 0 ||
	    (der = malloc((size_t)len)) == NULL)
		return (0);
	p = der;
	if (i2d_SSL_SESSION(sess, &p) != len) {
		free(der);
		return (0);
	}
	pthread_mutex_lock(&cl->lock);
	old = cl->sess;
	cl->sess = der;
	cl->sesslen = (size_t)len;
	pthread_mutex_unlock(&cl->lock);
	free(old);
	return (0);
}

/* cl's latest session, decoded for one connection; or NULL. */
static SSL_SESSION *
client_session(struct tls_client *cl)
{
	SSL_SESSION *sess = NULL;
	const unsigned char *p;

	pthread_mutex_lock(&cl->lock);
	if ((p = cl->sess) != NULL)
		sess = d2i_SSL_SESSION(NULL, &p, (long)cl->sesslen);
	pthread_mutex_unlock(&cl->lock);
	return (sess);
}

static int
is_ip(const char *s)
{
	unsigned char buf[16];

	return (inet_pton(AF_INET, s, buf) == 1 ||
	    inet_pton(AF_INET6, s, buf) == 1);
}

/* The CA file: readable, and with at least one certificate. */
static int
client_load_ca(struct tls_client *cl, const char *ca_file, char *err,
    size_t errlen)
{
	char why[160];
	FILE *fp;

	if (ca_file == NULL) {
		if (SSL_CTX_set_default_verify_paths(cl->ssl) != 1) {
			snprintf(err, errlen, "the system's trusted "
			    "authorities: %s", ssl_reason(why, sizeof(why)));
			return (-1);
		}
		return (0);
	}
	/* fopen first: its errno says more than OpenSSL's "system lib". */
	if ((fp = fopen(ca_file, "r")) == NULL) {
		snprintf(err, errlen, "tls_ca %s: %s", ca_file, strerror(errno));
		return (-1);
	}
	fclose(fp);
	if (SSL_CTX_load_verify_locations(cl->ssl, ca_file, NULL) != 1) {
		snprintf(err, errlen, "tls_ca %s: %s", ca_file,
		    ssl_reason(why, sizeof(why)));
		return (-1);
	}
	return (0);
}

struct tls_client *
tls_client_new(const char *ca_file, const char *name, int verify, char *err,
    size_t errlen)
{
	static const unsigned char alpn[] = "\x08http/1.1";
	struct tls_client *cl;
	char why[160];

	pthread_once(&setup_once, setup);
	if (bio_meth == NULL) {
		snprintf(err, errlen, "TLS: cannot set up: out of memory");
		return (NULL);
	}
	cl = xcalloc(1, sizeof(*cl));
	pthread_mutex_init(&cl->lock, NULL);
	cl->verify = verify;
	if (name != NULL) {
		cl->name = xstrdup(name);
		cl->name_is_ip = is_ip(name);
	}
	if ((cl->ssl = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "TLS: %s", ssl_reason(why, sizeof(why)));
		goto fail;
	}
	SSL_CTX_set_app_data(cl->ssl, cl);
	SSL_CTX_set_min_proto_version(cl->ssl, TLS1_2_VERSION);
	SSL_CTX_set_options(cl->ssl, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_mode(cl->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(cl->ssl, 1);
	/* Sessions are kept here, one per server, not in OpenSSL's cache
	 * (which clients do not look up). */
	SSL_CTX_set_session_cache_mode(cl->ssl, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(cl->ssl, new_session_cb);
	if (SSL_CTX_set_alpn_protos(cl->ssl, alpn, sizeof(alpn) - 1) != 0) {
		snprintf(err, errlen, "TLS: ALPN: %s", ssl_reason(why,
		    sizeof(why)));
		goto fail;
	}
	SSL_CTX_set_verify(cl->ssl, verify ? SSL_VERIFY_PEER :
	    SSL_VERIFY_NONE, NULL);
	if (client_load_ca(cl, ca_file, err, errlen) == -1)
		goto fail;
	return (cl);
fail:
	tls_client_free(cl);
	return (NULL);
}

void
tls_client_free(struct tls_client *cl)
{
	if (cl == NULL)
		return;
	free(cl->sess);
	SSL_CTX_free(cl->ssl);
	pthread_mutex_destroy(&cl->lock);
	free(cl->name);
	free(cl);
	ERR_clear_error();
}

/* SNI and the name to verify, on a new client connection. */
static int
client_name(struct tls_client *cl, SSL *ssl)
{
	X509_VERIFY_PARAM *vp;

	if (cl->name == NULL)
		return (0);
	if (cl->name_is_ip) {
		/* No SNI for an address (RFC 6066 §3); check iPAddress. */
		if (!cl->verify)
			return (0);
		vp = SSL_get0_param(ssl);
		return (X509_VERIFY_PARAM_set1_ip_asc(vp, cl->name) == 1 ? 0 :
		    -1);
	}
	if (SSL_set_tlsext_host_name(ssl, cl->name) != 1)
		return (-1);
	if (!cl->verify)
		return (0);
	/* RFC 6125 §6.4.3: "*" as a whole left label only. */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return (SSL_set1_host(ssl, cl->name) == 1 ? 0 : -1);
}

struct tls_conn *
tls_conn_client(struct tls_client *cl, int fd, struct stats *st)
{
	struct tls_conn *tc;
	SSL_SESSION *sess;
	BIO *b = NULL;

	if ((tc = calloc(1, sizeof(*tc))) == NULL)
		return (NULL);
	tc->fd = fd;
	tc->st = st;
	tc->client = cl;
	if ((tc->ssl = SSL_new(cl->ssl)) == NULL ||
	    (b = BIO_new(bio_meth)) == NULL || client_name(cl, tc->ssl) == -1)
		goto fail;
	BIO_set_data(b, tc);
	SSL_set_bio(tc->ssl, b, b);
	b = NULL;
	if ((sess = client_session(cl)) != NULL) {
		(void)SSL_set_session(tc->ssl, sess);
		SSL_SESSION_free(sess);		/* tc->ssl holds it */
	}
	SSL_set_connect_state(tc->ssl);
	return (tc);
fail:
	BIO_free(b);
	SSL_free(tc->ssl);
	free(tc);
	ERR_clear_error();
	return (NULL);
}

/* A failed step: why, from OpenSSL's queue or errno. */
static enum tls_status
fail(struct tls_conn *tc, int sslerr)
{
	char buf[128];

	tc->failed = 1;
	if (sslerr == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		snprintf(tc->why, sizeof(tc->why), "%s", errno != 0 ?
		    strerror(errno) : "connection closed");
	else
		snprintf(tc->why, sizeof(tc->why), "%s", ssl_reason(buf,
		    sizeof(buf)));
	return (TLS_ERROR);
}

/* The counter of a failed handshake, by what OpenSSL said. */
static void
count_failure(struct tls_conn *tc)
{
	const char *w = tc->why;

	if (strstr(w, "http request") != NULL ||
	    strstr(w, "wrong version number") != NULL ||
	    strstr(w, "record layer failure") != NULL ||
	    strstr(w, "packet length too long") != NULL)
		tc->st->tls_fail_not_tls++;
	else if (strstr(w, "unsupported protocol") != NULL ||
	    strstr(w, "version too low") != NULL ||
	    strstr(w, "no shared cipher") != NULL ||
	    strstr(w, "no suitable") != NULL ||
	    strstr(w, "no shared") != NULL)
		tc->st->tls_fail_protocol++;
	else if (strstr(w, "certificate") != NULL)
		tc->st->tls_fail_client_cert++;
	else if (strstr(w, "connection closed") != NULL ||
	    strstr(w, "Connection reset") != NULL ||
	    strstr(w, "unexpected eof") != NULL)
		tc->st->tls_fail_closed++;
	else
		tc->st->tls_fail_other++;
}

/*
 * SSL_get_error() needs an empty error queue before each I/O call. Every
 * failure path here empties it, so it is nearly always empty already:
 * look before clearing (ERR_clear_error wipes every slot, and it cost 2%
 * of a TLS hit's instructions when called unconditionally).
 */
static void
clear_errors(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* The verified client certificate's subject, RFC 2253 with every byte
 * outside printable ASCII escaped: safe in a header field. */
static void
peer_subject(struct tls_conn *tc)
{
	X509 *x = SSL_get0_peer_certificate(tc->ssl);
	BIO *b;
	char *p;
	long n;
	int i;

	if (x == NULL || SSL_get_verify_result(tc->ssl) != X509_V_OK ||
	    (b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253) >= 0 && (n = BIO_get_mem_data(b, &p)) > 0 &&
	    (tc->subject = malloc((size_t)n + 1)) != NULL) {
		for (i = 0; i < n; i++)
			tc->subject[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] :
			    '?';
		tc->subject[n] = '\0';
	}
	BIO_free(b);
}

/* A client handshake ended: count it; a failed verification says why
 * (OpenSSL's queue only says "certificate verify failed"). */
static void
client_done(struct tls_conn *tc, int ok)
{
	long v;
	size_t n;

	if (!ok && (v = SSL_get_verify_result(tc->ssl)) != X509_V_OK &&
	    strstr(tc->why, "verify") != NULL) {
		n = strlen(tc->why);
		snprintf(tc->why + n, sizeof(tc->why) - n, ": %s",
		    X509_verify_cert_error_string(v));
	}
	if (tc->st == NULL)
		return;
	if (!ok)
		tc->st->backend_tls_failures++;
	else {
		tc->st->backend_tls_handshakes++;
		if (SSL_session_reused(tc->ssl))
			tc->st->backend_tls_resumed++;
	}
}

enum tls_status
tls_handshake(struct tls_conn *tc)
{
	int rc, e;

	clear_errors();
	errno = 0;
	if ((rc = SSL_do_handshake(tc->ssl)) == 1) {
		tc->done = 1;
		if (tc->client != NULL) {
			client_done(tc, 1);
			return (TLS_OK);
		}
		tc->st->tls_handshakes++;
		if (SSL_session_reused(tc->ssl))
			tc->st->tls_resumed++;
		if (SSL_version(tc->ssl) == TLS1_3_VERSION)
			tc->st->tls_v13++;
		else
			tc->st->tls_v12++;
		if (tc->store != NULL)
			peer_subject(tc);
		return (TLS_OK);
	}
	switch ((e = SSL_get_error(tc->ssl, rc))) {
	case SSL_ERROR_WANT_READ:
		return (TLS_WANT_READ);
	case SSL_ERROR_WANT_WRITE:
		return (TLS_WANT_WRITE);
	default:
		(void)fail(tc, e);
		if (tc->client != NULL)
			client_done(tc, 0);
		else
			count_failure(tc);
		return (TLS_ERROR);
	}
}

enum tls_status
tls_read(struct tls_conn *tc, void *buf, size_t len, size_t *got,
    int *drained)
{
	int e;

	*got = 0;
	*drained = 0;
	clear_errors();
	errno = 0;
	tc->drained = 0;
	if (SSL_read_ex(tc->ssl, buf, len, got) == 1) {
		*drained = tc->drained && !SSL_has_pending(tc->ssl);
		return (TLS_OK);
	}
	switch ((e = SSL_get_error(tc->ssl, 0))) {
	case SSL_ERROR_WANT_READ:
		*drained = 1;
		return (TLS_WANT_READ);
	case SSL_ERROR_WANT_WRITE:
		return (TLS_WANT_WRITE);
	case SSL_ERROR_ZERO_RETURN:
		return (TLS_EOF);
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0 && errno == 0)
			return (TLS_EOF);	/* FIN without close_notify */
		return (fail(tc, e));
	default:
		return (fail(tc, e));
	}
}

enum tls_status
tls_write(struct tls_conn *tc, const void *buf, size_t len, size_t *written)
{
	int e;

	*written = 0;
	clear_errors();
	errno = 0;
	if (SSL_write_ex(tc->ssl, buf, len, written) == 1)
		return (TLS_OK);
	switch ((e = SSL_get_error(tc->ssl, 0))) {
	case SSL_ERROR_WANT_READ:
		return (TLS_WANT_READ);
	case SSL_ERROR_WANT_WRITE:
		return (TLS_WANT_WRITE);
	default:
		return (fail(tc, e));
	}
}

const char *
tls_conn_error(const struct tls_conn *tc)
{
	return (tc->why);
}

const char *
tls_conn_subject(const struct tls_conn *tc)
{
	return (tc->subject);
}

const char *
tls_conn_version(const struct tls_conn *tc)
{
	return (SSL_get_version(tc->ssl));
}

const char *
tls_library_version(void)
{
	return (OpenSSL_version(OPENSSL_VERSION));
}
