/*
 * loadgen: a memcached load generator for the text and meta protocols.
 *
 * One thread per CPU in the process's affinity mask, each with its own epoll
 * loop over non-blocking connections. Replies are framed, not parsed: header
 * lines are read and value bytes skipped (large values dropped in the kernel,
 * never copied out), so the generator stays cheaper per request than the
 * server it measures.
 *
 * Scenarios:
 *   workload  closed loop (each connection keeps --pipeline requests in flight)
 *             or open loop (--rate requests/s in total, latency measured from
 *             each request's scheduled time, so a stalled server is not hidden)
 *   preload   set every key once, then exit
 *   idle      open --conns connections, one get on each, hold them idle
 *   fanout    every connection asks for the same key at once and reads the
 *             reply slowly (--read-rate), round after round
 *   noread    every connection sends gets and never reads a byte
 *
 * --tls speaks TLS to the server (memcached -Z) through OpenSSL when built with
 * -DLOADGEN_TLS and linked with -lssl -lcrypto. Over TLS every value byte is
 * decrypted, so the generator's cost is per byte there, as the server's is.
 *
 * Output: one JSON object on stdout at the end; JSON event lines on stderr
 * (phase changes, progress, ready) so a runner can sample the server at the
 * right moments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef LOADGEN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

#define LOADGEN_VERSION "1.0"
#define MAX_EVENTS 512
#define READ_BUF_SIZE (256 * 1024)
#define LINE_MAX_LEN 1024
#define MAX_THREADS 64
/* Value bytes at least this long are discarded in the kernel instead of copied out. */
#define DISCARD_MIN 4096

/* ------------------------------------------------------------------ */
/* Options                                                            */

enum protocol { PROTO_TEXT, PROTO_META };
enum scenario { SC_WORKLOAD, SC_PRELOAD, SC_IDLE, SC_FANOUT, SC_NOREAD };

static struct options {
	const char *host;
	int port;
	int threads;
	int conns;
	double duration_s;
	double warmup_s;
	double drain_s;
	double hold_s;
	enum protocol protocol;
	enum scenario scenario;
	double rate;          /* requests/s in total; 0 = closed loop */
	double pacing_us;     /* open loop: shortest sleep between sending passes */
	int pipeline;         /* closed loop: in flight per connection; open loop: cap */
	int multiget;         /* keys per get request */
	uint64_t keys;
	const char *key_prefix;
	int key_size;         /* total key length; the number is zero-padded to reach it */
	uint64_t key_offset;  /* first key index, so two generators can use disjoint keys */
	uint32_t value_min, value_max;
	uint32_t ratio_set, ratio_get;
	int rcvbuf;           /* SO_RCVBUF for scenario connections; 0 = kernel default */
	double read_rate;     /* fanout: bytes/s each connection reads */
	int progress;
	uint64_t seed;
	int probe_meta;
	int tls;              /* speak TLS (needs a build with -DLOADGEN_TLS) */
} opt = {
	.host = "127.0.0.1",
	.port = 0,
	.threads = 0,
	.conns = 50,
	.duration_s = 10,
	.warmup_s = 0,
	.drain_s = 2,
	.hold_s = 0,
	.protocol = PROTO_TEXT,
	.scenario = SC_WORKLOAD,
	.rate = 0,
	.pacing_us = 50,
	.pipeline = 1,
	.multiget = 1,
	.keys = 100000,
	.key_prefix = "key:",
	.key_size = 0,
	.key_offset = 0,
	.value_min = 32,
	.value_max = 32,
	.ratio_set = 0,
	.ratio_get = 1,
	.rcvbuf = 0,
	.read_rate = 1e6,
	.progress = 0,
	.seed = 1,
	.probe_meta = 0,
	.tls = 0,
};

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* ------------------------------------------------------------------ */
/* Time, randomness                                                   */

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t start_ns; /* process start, the zero of every reported time */

static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias worth caring about at these sizes. */
static inline uint64_t rand_below(uint64_t *s, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)splitmix64(s) * n) >> 64);
}

/* ------------------------------------------------------------------ */
/* Latency histogram: log-linear buckets, 128 per power of two (<1% error) */

#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_SHIFT 40
#define HIST_BUCKETS ((HIST_MAX_SHIFT + 2) * HIST_SUB)

struct histogram {
	uint64_t count;
	uint64_t sum;
	uint64_t max;
	uint64_t bucket[HIST_BUCKETS];
};

static inline unsigned hist_index(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63 - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - HIST_SUB_BITS;
	if (shift > HIST_MAX_SHIFT)
		return HIST_BUCKETS - 1;
	return (shift + 1) * HIST_SUB + (unsigned)(v >> shift) - HIST_SUB;
}

/* The middle of a bucket's range. */
static uint64_t hist_value(unsigned idx)
{
	if (idx < 2 * HIST_SUB)
		return idx;
	unsigned shift = idx / HIST_SUB - 1;
	uint64_t sub = idx % HIST_SUB + HIST_SUB;
	return (sub << shift) + ((1ull << shift) >> 1);
}

static inline void hist_record(struct histogram *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->bucket[hist_index(v)]++;
}

static void hist_merge(struct histogram *into, const struct histogram *from)
{
	into->count += from->count;
	into->sum += from->sum;
	if (from->max > into->max)
		into->max = from->max;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->bucket[i] += from->bucket[i];
}

static uint64_t hist_percentile(const struct histogram *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)(p / 100.0 * (double)h->count + 0.5);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t v = hist_value(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* ------------------------------------------------------------------ */
/* Keys and values                                                    */

static char *key_table;   /* keys, each key_len bytes, no terminator */
static int key_len;
static char *value_bytes; /* value_max bytes of filler, the data of every set */

static void build_keys(void)
{
	int prefix_len = (int)strlen(opt.key_prefix);
	uint64_t last = opt.key_offset + opt.keys - 1;
	int digits = 1;
	for (uint64_t v = last; v >= 10; v /= 10)
		digits++;
	int width = digits;
	if (opt.key_size > prefix_len + width)
		width = opt.key_size - prefix_len;
	key_len = prefix_len + width;
	if (key_len > 250)
		die("keys would be %d bytes; memcached allows 250", key_len);
	key_table = malloc((size_t)opt.keys * (size_t)key_len + 1);
	if (!key_table)
		die("out of memory for %llu keys", (unsigned long long)opt.keys);
	char tmp[300];
	for (uint64_t i = 0; i < opt.keys; i++) {
		snprintf(tmp, sizeof tmp, "%s%0*llu", opt.key_prefix, width,
			 (unsigned long long)(opt.key_offset + i));
		memcpy(key_table + i * (uint64_t)key_len, tmp, (size_t)key_len);
	}
	value_bytes = malloc(opt.value_max + 1);
	if (!value_bytes)
		die("out of memory for values");
	memset(value_bytes, 'x', opt.value_max);
}

static inline const char *key_at(uint64_t i)
{
	return key_table + i * (uint64_t)key_len;
}

/* A fixed size per key, so a preloaded key and a later set agree on its size. */
static inline uint32_t value_size_for(uint64_t key)
{
	if (opt.value_max == opt.value_min)
		return opt.value_min;
	uint64_t s = key * 0x2545f4914f6cdd1dull + opt.seed;
	return opt.value_min + (uint32_t)rand_below(&s, (uint64_t)(opt.value_max - opt.value_min) + 1);
}

/* ------------------------------------------------------------------ */
/* Connections                                                        */

/* CONN_HANDSHAKE: TCP is up, the TLS handshake is not done; it counts as connecting. */
enum conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_READY, CONN_CLOSED };

struct conn {
	int fd;
	void *ssl;              /* the connection's SSL, with --tls */
	enum conn_state state;
	uint32_t events;        /* what epoll currently watches */
	/* requests in flight, oldest first: when each was sent (or scheduled) */
	uint64_t *sent_ns;
	uint32_t ring_cap, ring_head, in_flight;
	/* reply framer */
	uint64_t skip;          /* value bytes (and their CRLF) still to pass over */
	int large_values;       /* replies on this connection carry values worth discarding */
	uint32_t line_len;
	char line[LINE_MAX_LEN];
	/* output */
	char *out;
	size_t out_len, out_off, out_cap;
	int dirty;              /* open loop: requests appended since the last flush */
	double read_credit;     /* fanout: bytes this connection may still read now */
};

struct counters {
	uint64_t requests;      /* completed requests (a multiget or a meta batch is one) */
	uint64_t get_requests;
	uint64_t get_keys;      /* keys asked for by completed gets */
	uint64_t hits;          /* VALUE or VA replies */
	uint64_t sets;          /* completed sets */
	uint64_t set_failures;  /* NOT_STORED and the like */
	uint64_t errors;        /* ERROR, CLIENT_ERROR, SERVER_ERROR */
	uint64_t value_bytes;   /* value bytes received */
	uint64_t bytes_in;
	uint64_t bytes_out;
};

/* What a server should have counted: every command this process sent. */
struct sent_totals {
	uint64_t get_requests;
	uint64_t get_keys;
	uint64_t sets;
};

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN, PHASE_DONE };
static volatile int phase = PHASE_WARMUP;
static volatile sig_atomic_t stop_requested = 0;

struct worker {
	int id;
	int cpu;
	pthread_t thread;
	int epfd;
	struct conn *conns;
	int nconns;
	uint64_t rng;
	char *rbuf;
	struct histogram hist;        /* measurement window only */
	struct counters all, window;  /* whole life; measurement window */
	struct sent_totals sent;
	uint64_t unexpected;          /* replies with no request waiting, or unknown lines */
	uint64_t connect_errors;
	uint64_t disconnects;
	uint64_t connected;
	/* open loop */
	double rate;
	uint64_t t0, issued, late_max;
	int rr;
	int backlogged;
	/* fanout */
	uint64_t rounds;
	int ready;                    /* idle: all connections got their reply */
};

static struct worker workers[MAX_THREADS];
static int nworkers;
static struct sockaddr_in server_addr;
static uint64_t preload_next; /* shared by preload workers: next key to set */

static void conn_set_events(struct worker *w, struct conn *c, uint32_t events)
{
	if (c->events == events || c->state == CONN_CLOSED)
		return;
	/*
	 * Readers are edge-triggered: a level-triggered socket is polled again on the
	 * next epoll_wait even when it was read dry, a cost paid once per request.
	 */
	struct epoll_event ev = { .events = events | (events & EPOLLIN ? EPOLLET : 0), .data.ptr = c };
	int op = c->events == 0 ? EPOLL_CTL_ADD : (events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD);
	if (epoll_ctl(w->epfd, op, c->fd, &ev) < 0 && op != EPOLL_CTL_DEL)
		die("epoll_ctl: %s", strerror(errno));
	c->events = events;
}

static void conn_close(struct worker *w, struct conn *c, int counts_as_disconnect)
{
	if (c->state == CONN_CLOSED)
		return;
	if (c->events)
		epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->events = 0;
#ifdef LOADGEN_TLS
	if (c->ssl) {
		SSL_free(c->ssl); /* no close_notify: the server sees the TCP close, as from memcached's clients */
		c->ssl = NULL;
	}
#endif
	close(c->fd);
	c->fd = -1;
	if (counts_as_disconnect) {
		if (c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE)
			w->connect_errors++;
		else
			w->disconnects++;
	}
	c->state = CONN_CLOSED;
	c->in_flight = 0;
}

#ifdef LOADGEN_TLS
static SSL_CTX *tls_ctx;

static void tls_init(void)
{
	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx)
		die("SSL_CTX_new failed");
	/* The benchmark's servers use a throw-away certificate made for the run: not verified. */
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
	/* conn_flush retries from a buffer that may have moved and grown, and takes partial writes. */
	SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * Without read-ahead OpenSSL makes two recv calls per record (header, then body);
	 * with it, one recv fills a 64 KB buffer with several records. Slow readers (fanout)
	 * read record by record, so what they take from the socket stays close to --read-rate.
	 */
	if (getenv("LOADGEN_TLS_NO_READ_AHEAD") == NULL && opt.scenario != SC_FANOUT) {
		SSL_CTX_set_read_ahead(tls_ctx, 1);
		SSL_CTX_set_default_read_buffer_len(tls_ctx, 64 * 1024);
	}
}

/* SSL_read/SSL_write result as recv/send would give it: bytes, or -1 with errno (EAGAIN to wait). */
static ssize_t tls_result(struct conn *c, int r)
{
	if (r > 0)
		return r;
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EAGAIN;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = e == SSL_ERROR_SYSCALL && errno ? errno : EPROTO;
	return -1;
}
#endif

static inline ssize_t conn_send(struct conn *c, const void *p, size_t n)
{
#ifdef LOADGEN_TLS
	if (c->ssl) {
		ERR_clear_error();
		return tls_result(c, SSL_write(c->ssl, p, n > (1u << 30) ? (1 << 30) : (int)n));
	}
#endif
	return send(c->fd, p, n, MSG_NOSIGNAL);
}

/* recv, or SSL_read; `discard` drops the bytes in the kernel where it can (not over TLS). */
static inline ssize_t conn_recv(struct conn *c, char *buf, size_t n, int discard)
{
#ifdef LOADGEN_TLS
	if (c->ssl) {
		ERR_clear_error();
		return tls_result(c, SSL_read(c->ssl, buf, n > (1u << 30) ? (1 << 30) : (int)n));
	}
#endif
	return discard ? recv(c->fd, NULL, n, MSG_TRUNC) : recv(c->fd, buf, n, 0);
}

static void conn_open(struct worker *w, struct conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s (raise ulimit -n?)", strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (opt.rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &opt.rcvbuf, sizeof opt.rcvbuf);
	c->fd = fd;
	c->state = CONN_CONNECTING;
	c->events = 0;
	if (connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0 && errno != EINPROGRESS) {
		w->connect_errors++;
		close(fd);
		c->fd = -1;
		c->state = CONN_CLOSED;
		return;
	}
	conn_set_events(w, c, EPOLLOUT);
}

static void out_reserve(struct conn *c, size_t more)
{
	if (c->out_off > 0 && c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
	}
	if (c->out_len + more <= c->out_cap)
		return;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
		if (c->out_len + more <= c->out_cap)
			return;
	}
	size_t cap = c->out_cap ? c->out_cap : 4096;
	while (cap < c->out_len + more)
		cap *= 2;
	c->out = realloc(c->out, cap);
	if (!c->out)
		die("out of memory for output buffers");
	c->out_cap = cap;
}

static inline void out_append(struct conn *c, const void *p, size_t n)
{
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static inline char *fmt_u64(char *p, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static int issuing(void);

/* What a connection waits for when it has nothing left to write. */
static uint32_t settled_events(void)
{
	switch (opt.scenario) {
	case SC_FANOUT:
		return 0; /* read on the scenario's own clock, not when bytes arrive */
	case SC_NOREAD:
		return issuing() ? EPOLLOUT : 0; /* never read; write whenever there is room */
	default:
		return EPOLLIN;
	}
}

/* Writes what the socket takes; the rest waits for EPOLLOUT. Returns -1 if closed. */
static int conn_flush(struct worker *w, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = conn_send(c, c->out + c->out_off, c->out_len - c->out_off);
		if (n > 0) {
			c->out_off += (size_t)n;
			w->all.bytes_out += (uint64_t)n;
			if (phase == PHASE_MEASURE)
				w->window.bytes_out += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_set_events(w, c, EPOLLOUT | (settled_events() & EPOLLIN));
			return 0;
		}
		conn_close(w, c, 1);
		return -1;
	}
	c->out_off = c->out_len = 0;
	conn_set_events(w, c, settled_events());
	return 0;
}

static void ring_push(struct conn *c, uint64_t t)
{
	if (c->in_flight == c->ring_cap) {
		uint32_t cap = c->ring_cap ? c->ring_cap * 2 : 8;
		uint64_t *ring = malloc(sizeof(uint64_t) * cap);
		if (!ring)
			die("out of memory for request rings");
		for (uint32_t i = 0; i < c->in_flight; i++)
			ring[i] = c->sent_ns[(c->ring_head + i) % c->ring_cap];
		free(c->sent_ns);
		c->sent_ns = ring;
		c->ring_cap = cap;
		c->ring_head = 0;
	}
	c->sent_ns[(c->ring_head + c->in_flight) % c->ring_cap] = t;
	c->in_flight++;
}

/* Appends one get (text: `get k1 .. kN`; meta: N x `mg k v q k` then `mn`). */
static void append_get(struct worker *w, struct conn *c, uint64_t first_key, int random_keys)
{
	int n = opt.multiget;
	size_t per_key = (size_t)key_len + (opt.protocol == PROTO_META ? 16 : 1);
	out_reserve(c, (size_t)n * per_key + 16);
	char *p = c->out + c->out_len;
	if (opt.protocol == PROTO_TEXT) {
		memcpy(p, "get", 3);
		p += 3;
	}
	for (int i = 0; i < n; i++) {
		uint64_t k = random_keys ? rand_below(&w->rng, opt.keys) : (first_key + (uint64_t)i) % opt.keys;
		if (opt.protocol == PROTO_TEXT) {
			*p++ = ' ';
			memcpy(p, key_at(k), (size_t)key_len);
			p += key_len;
		} else {
			memcpy(p, "mg ", 3);
			p += 3;
			memcpy(p, key_at(k), (size_t)key_len);
			p += key_len;
			memcpy(p, " v q k\r\n", 8);
			p += 8;
		}
	}
	if (opt.protocol == PROTO_TEXT) {
		memcpy(p, "\r\n", 2);
		p += 2;
	} else {
		memcpy(p, "mn\r\n", 4);
		p += 4;
	}
	c->out_len = (size_t)(p - c->out);
	w->sent.get_requests++;
	w->sent.get_keys += (uint64_t)n;
}

/* Appends one set (text: `set k 0 0 N`; meta: `ms k N`). */
static void append_set(struct worker *w, struct conn *c, uint64_t k)
{
	uint32_t size = value_size_for(opt.key_offset + k);
	out_reserve(c, (size_t)key_len + size + 48);
	char *p = c->out + c->out_len;
	if (opt.protocol == PROTO_TEXT) {
		memcpy(p, "set ", 4);
		p += 4;
		memcpy(p, key_at(k), (size_t)key_len);
		p += key_len;
		memcpy(p, " 0 0 ", 5);
		p += 5;
	} else {
		memcpy(p, "ms ", 3);
		p += 3;
		memcpy(p, key_at(k), (size_t)key_len);
		p += key_len;
		*p++ = ' ';
	}
	p = fmt_u64(p, size);
	memcpy(p, "\r\n", 2);
	p += 2;
	memcpy(p, value_bytes, size);
	p += size;
	memcpy(p, "\r\n", 2);
	p += 2;
	c->out_len = (size_t)(p - c->out);
	w->sent.sets++;
}

/* Appends one request of the workload's mix. */
static void append_request(struct worker *w, struct conn *c, uint64_t sent_at)
{
	uint32_t total = opt.ratio_set + opt.ratio_get;
	int is_set = opt.ratio_set > 0 && rand_below(&w->rng, total) < opt.ratio_set;
	if (is_set)
		append_set(w, c, rand_below(&w->rng, opt.keys));
	else
		append_get(w, c, 0, 1);
	ring_push(c, sent_at);
}

/* ------------------------------------------------------------------ */
/* Reply framing                                                      */

static void complete_request(struct worker *w, struct conn *c, uint64_t now, int kind)
{
	if (c->in_flight == 0) {
		w->unexpected++;
		return;
	}
	uint64_t sent = c->sent_ns[c->ring_head];
	c->ring_head = (c->ring_head + 1) % c->ring_cap;
	c->in_flight--;
	int measuring = phase == PHASE_MEASURE;
	struct counters *ctrs[2] = { &w->all, measuring ? &w->window : NULL };
	for (int i = 0; i < 2; i++) {
		struct counters *k = ctrs[i];
		if (!k)
			continue;
		k->requests++;
		if (kind == 'g') {
			k->get_requests++;
			k->get_keys += (uint64_t)opt.multiget;
		} else if (kind == 's') {
			k->sets++;
		} else if (kind == 'f') {
			k->sets++;
			k->set_failures++;
		} else if (kind == 'e') {
			k->errors++;
		}
	}
	if (measuring)
		hist_record(&w->hist, now > sent ? now - sent : 0);
}

static inline int line_is(const char *line, size_t len, const char *word)
{
	size_t n = strlen(word);
	return len == n + 2 && memcmp(line, word, n) == 0;
}

static inline int line_starts(const char *line, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && memcmp(line, prefix, n) == 0;
}

/* The number at the end of `VALUE key flags bytes [cas]` or after `VA `. */
static uint64_t parse_size_field(const char *p, const char *end)
{
	uint64_t v = 0;
	while (p < end && *p == ' ')
		p++;
	while (p < end && *p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v;
}

static void handle_line(struct worker *w, struct conn *c, const char *line, size_t len, uint64_t now)
{
	const char *end = line + len;
	if (line_starts(line, len, "VALUE ")) {
		/* VALUE <key> <flags> <bytes> [<cas>] */
		const char *p = line + 6;
		int spaces = 0;
		while (p < end && spaces < 2) {
			if (*p == ' ')
				spaces++;
			p++;
		}
		uint64_t bytes = parse_size_field(p, end);
		c->skip = bytes + 2;
		c->large_values = bytes >= DISCARD_MIN;
		w->all.hits++;
		w->all.value_bytes += bytes;
		if (phase == PHASE_MEASURE) {
			w->window.hits++;
			w->window.value_bytes += bytes;
		}
		return;
	}
	if (line_starts(line, len, "VA ")) {
		uint64_t bytes = parse_size_field(line + 3, end);
		c->skip = bytes + 2;
		c->large_values = bytes >= DISCARD_MIN;
		w->all.hits++;
		w->all.value_bytes += bytes;
		if (phase == PHASE_MEASURE) {
			w->window.hits++;
			w->window.value_bytes += bytes;
		}
		return;
	}
	if (line_is(line, len, "END") || line_is(line, len, "MN")) {
		complete_request(w, c, now, 'g');
		return;
	}
	if (line_is(line, len, "STORED") || line_is(line, len, "HD")) {
		complete_request(w, c, now, 's');
		return;
	}
	if (line_is(line, len, "EN"))
		return; /* a meta miss; only seen without the q flag */
	if (line_is(line, len, "NOT_STORED") || line_is(line, len, "EXISTS") || line_is(line, len, "NOT_FOUND") ||
	    line_is(line, len, "NS") || line_is(line, len, "EX") || line_is(line, len, "NF")) {
		complete_request(w, c, now, 'f');
		return;
	}
	if (line_is(line, len, "ERROR") || line_starts(line, len, "CLIENT_ERROR") ||
	    line_starts(line, len, "SERVER_ERROR")) {
		complete_request(w, c, now, 'e');
		return;
	}
	w->unexpected++;
}

static void frame_replies(struct worker *w, struct conn *c, const char *p, size_t n, uint64_t now)
{
	while (n > 0) {
		if (c->skip) {
			size_t k = c->skip < n ? (size_t)c->skip : n;
			c->skip -= k;
			p += k;
			n -= k;
			continue;
		}
		const char *nl = memchr(p, '\n', n);
		if (!nl) {
			if (c->line_len + n > LINE_MAX_LEN) {
				w->unexpected++;
				c->line_len = 0;
			} else {
				memcpy(c->line + c->line_len, p, n);
				c->line_len += (uint32_t)n;
			}
			return;
		}
		size_t len = (size_t)(nl - p) + 1;
		if (c->line_len) {
			if (c->line_len + len > LINE_MAX_LEN) {
				w->unexpected++;
				c->line_len = 0;
			} else {
				memcpy(c->line + c->line_len, p, len);
				handle_line(w, c, c->line, c->line_len + len, now);
				c->line_len = 0;
			}
		} else {
			handle_line(w, c, p, len, now);
		}
		p += len;
		n -= len;
	}
}

/*
 * Reads up to `limit` bytes once; returns bytes consumed, 0 if none were ready, -1 if
 * the connection closed. *dry is set when the read took less than it asked for, i.e.
 * the socket had nothing more at that moment.
 *
 * Inside a large value the bytes are dropped with MSG_TRUNC, which TCP honours without
 * copying: the generator's cost stays per reply, not per byte, so it can keep up with
 * a server sending GB/s. Over TLS they must be decrypted, and are then dropped.
 */
static ssize_t conn_read(struct worker *w, struct conn *c, size_t limit, int *dry)
{
	if (limit > READ_BUF_SIZE)
		limit = READ_BUF_SIZE;
	ssize_t n;
	int discarding = c->skip >= DISCARD_MIN;
	if (discarding) {
		if (limit > c->skip)
			limit = (size_t)c->skip;
		n = conn_recv(c, w->rbuf, limit, 1);
	} else {
		/* After a large value, read only a header's worth, so the next value is discarded too. */
		if (c->large_values && limit > DISCARD_MIN)
			limit = DISCARD_MIN;
		n = conn_recv(c, w->rbuf, limit, 0);
	}
	/*
	 * A short read means the socket is dry; over TLS a read returns at most one record,
	 * so only a read that had to wait (n < 0, EAGAIN) says so.
	 */
	if (dry)
		*dry = c->ssl ? n <= 0 : n < (ssize_t)limit;
	if (n > 0) {
		uint64_t now = now_ns();
		w->all.bytes_in += (uint64_t)n;
		if (phase == PHASE_MEASURE)
			w->window.bytes_in += (uint64_t)n;
		if (discarding)
			c->skip -= (uint64_t)n;
		else
			frame_replies(w, c, w->rbuf, (size_t)n, now);
		return n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	conn_close(w, c, 1);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Scenario loops                                                     */

static int issuing(void)
{
	return phase == PHASE_WARMUP || phase == PHASE_MEASURE;
}

/* Closed loop: top each connection up to --pipeline requests, in one write. */
static void closed_loop_refill(struct worker *w, struct conn *c, uint64_t now)
{
	if (c->state != CONN_READY || !issuing())
		return;
	if (c->out_off < c->out_len)
		return; /* still flushing the previous batch */
	while (c->in_flight < (uint32_t)opt.pipeline)
		append_request(w, c, now);
	conn_flush(w, c);
}

/* Preload: each connection sets the next keys of the shared sequence. */
static void preload_refill(struct worker *w, struct conn *c)
{
	if (c->state != CONN_READY || c->out_off < c->out_len)
		return;
	uint64_t now = now_ns();
	while (c->in_flight < (uint32_t)opt.pipeline) {
		uint64_t k = __atomic_fetch_add(&preload_next, 1, __ATOMIC_RELAXED);
		if (k >= opt.keys)
			break;
		append_set(w, c, k);
		ring_push(c, now);
	}
	if (c->out_len)
		conn_flush(w, c);
}

/* Open loop: issue every request whose scheduled time has come, on a connection with room. */
/*
 * Latency counts from a request's scheduled time when the generator fell behind because
 * every connection was waiting for the server (so a stalled server shows its queueing),
 * and from the moment it was sent when the generator was only waiting for its own next
 * pass: it sleeps at least --pacing-us between passes, because arming a timer for every
 * request costs more CPU than the requests themselves on some machines.
 */
static void open_loop_issue(struct worker *w, uint64_t now)
{
	int was_backlogged = w->backlogged;
	uint64_t pacing_tolerance = (uint64_t)(2 * opt.pacing_us * 1000);
	w->backlogged = 0;
	if (!issuing() || w->rate <= 0)
		return;
	double ns_per_req = 1e9 / w->rate;
	/* Request i is scheduled at t0 + i * ns_per_req; this many have come due. */
	uint64_t due = (uint64_t)((double)(now - w->t0) / ns_per_req) + 1;
	if (due > w->issued && due - w->issued > w->late_max)
		w->late_max = due - w->issued;
	int touched_any = 0;
	while (w->issued < due) {
		struct conn *c = NULL;
		for (int tries = 0; tries < w->nconns; tries++) {
			struct conn *cand = &w->conns[w->rr];
			w->rr = (w->rr + 1) % w->nconns;
			if (cand->state == CONN_READY && cand->in_flight < (uint32_t)opt.pipeline) {
				c = cand;
				break;
			}
		}
		if (!c) {
			w->backlogged = 1; /* every connection is full: replies, not the clock, free one */
			break;
		}
		uint64_t scheduled = w->t0 + (uint64_t)((double)w->issued * ns_per_req);
		uint64_t origin = !was_backlogged && now - scheduled <= pacing_tolerance ? now : scheduled;
		append_request(w, c, origin);
		w->issued++;
		touched_any = 1;
		c->dirty = 1;
	}
	if (!touched_any)
		return;
	for (int i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->dirty) {
			c->dirty = 0;
			if (c->out_off < c->out_len && !(c->events & EPOLLOUT))
				conn_flush(w, c);
		}
	}
}

static uint64_t open_loop_next_due(struct worker *w)
{
	return w->t0 + (uint64_t)((double)w->issued * (1e9 / w->rate));
}

static int all_idle(struct worker *w)
{
	for (int i = 0; i < w->nconns; i++)
		if (w->conns[i].state == CONN_READY && w->conns[i].in_flight > 0)
			return 0;
	return 1;
}

static void conn_ready(struct worker *w, struct conn *c);

#ifdef LOADGEN_TLS
/* Drives the TLS handshake on; the connection is ready when it is done. */
static void on_handshake(struct worker *w, struct conn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		conn_ready(w, c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		conn_set_events(w, c, EPOLLIN);
	else if (e == SSL_ERROR_WANT_WRITE)
		conn_set_events(w, c, EPOLLOUT);
	else
		conn_close(w, c, 1);
}
#endif

static void on_connected(struct worker *w, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		conn_close(w, c, 1);
		return;
	}
#ifdef LOADGEN_TLS
	if (opt.tls) {
		SSL *ssl = SSL_new(tls_ctx);
		if (!ssl || !SSL_set_fd(ssl, c->fd))
			die("SSL_new failed");
		SSL_set_connect_state(ssl);
		c->ssl = ssl;
		c->state = CONN_HANDSHAKE;
		on_handshake(w, c);
		return;
	}
#endif
	conn_ready(w, c);
}

static void conn_ready(struct worker *w, struct conn *c)
{
	c->state = CONN_READY;
	w->connected++;
	switch (opt.scenario) {
	case SC_WORKLOAD:
		conn_set_events(w, c, EPOLLIN);
		if (opt.rate <= 0)
			closed_loop_refill(w, c, now_ns());
		break;
	case SC_PRELOAD:
		conn_set_events(w, c, EPOLLIN);
		preload_refill(w, c);
		break;
	case SC_IDLE:
		/* One request, so the server has set the connection up as it does for a used one. */
		conn_set_events(w, c, EPOLLIN);
		append_get(w, c, (uint64_t)(c - w->conns), 0);
		ring_push(c, now_ns());
		conn_flush(w, c);
		break;
	case SC_FANOUT:
		conn_set_events(w, c, 0);
		break;
	case SC_NOREAD:
		conn_set_events(w, c, EPOLLOUT);
		break;
	}
}

/* noread: keep the request stream full; the server sees requests it cannot answer. */
static void noread_fill(struct worker *w, struct conn *c)
{
	if (c->state != CONN_READY || !issuing())
		return;
	for (int batch = 0; batch < 64 && c->state == CONN_READY; batch++) {
		if (c->out_off < c->out_len)
			return;
		/* No request ring: nothing will be answered, and the ring would grow without end. */
		for (int i = 0; i < 16; i++)
			append_get(w, c, 0, 1);
		conn_flush(w, c);
		if (c->events & EPOLLOUT)
			return;
	}
}

static int waiting_connects(struct worker *w)
{
	for (int i = 0; i < w->nconns; i++)
		if (w->conns[i].state == CONN_CONNECTING || w->conns[i].state == CONN_HANDSHAKE)
			return 1;
	return 0;
}

/* fanout: every connection has read its whole reply; start the next round together. */
static void fanout_round(struct worker *w, uint64_t now)
{
	for (int i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CONN_READY && c->in_flight > 0)
			return;
	}
	if (!issuing())
		return;
	if (waiting_connects(w))
		return;
	for (int i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CONN_READY)
			continue;
		append_get(w, c, 0, 0); /* key 0: the hot key */
		ring_push(c, now);
		conn_flush(w, c);
	}
	w->rounds++;
}

/* Slow readers read on this clock: often enough to look steady, rarely enough to stay cheap. */
#define FANOUT_TICK_NS 10000000ull

static void fanout_tick(struct worker *w, double tick_s)
{
	int draining = phase == PHASE_DRAIN;
	for (int i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CONN_READY || c->in_flight == 0)
			continue;
		/* While draining, read freely so every reply completes and counts match. */
		if (draining) {
			int dry = 0;
			while (c->state == CONN_READY && c->in_flight > 0 && !dry && conn_read(w, c, READ_BUF_SIZE, &dry) > 0) {
			}
			continue;
		}
		c->read_credit += opt.read_rate * tick_s;
		while (c->read_credit >= 1 && c->state == CONN_READY && c->in_flight > 0) {
			int dry = 0;
			ssize_t n = conn_read(w, c, (size_t)c->read_credit, &dry);
			if (n <= 0)
				break;
			c->read_credit -= (double)n;
			if (dry)
				break;
		}
		if (c->read_credit > opt.read_rate * tick_s * 4)
			c->read_credit = opt.read_rate * tick_s * 4; /* no bursts after a stall */
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof set, &set);
	}
	struct epoll_event events[MAX_EVENTS];
	/* Open loop sleeps until its next pass; the default 50 us timer slack would add to it. */
	if (opt.rate > 0)
		prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);

	/* Connect in waves: a burst of thousands of SYNs overflows the listen backlog. */
	int next_connect = 0;
	const int connect_wave = 256;
	uint64_t last_tick = now_ns();
	w->t0 = now_ns();

	while (!stop_requested) {
		int p = phase;
		if (p == PHASE_DONE)
			break;
		if (p == PHASE_DRAIN && opt.scenario != SC_NOREAD && opt.scenario != SC_IDLE && all_idle(w))
			break;
		if (next_connect < w->nconns) {
			int pending = 0;
			for (int i = 0; i < next_connect; i++)
				pending += w->conns[i].state == CONN_CONNECTING || w->conns[i].state == CONN_HANDSHAKE;
			while (next_connect < w->nconns && pending < connect_wave) {
				conn_open(w, &w->conns[next_connect++]);
				pending++;
			}
		}

		uint64_t now = now_ns();
		struct timespec timeout = { .tv_sec = 0, .tv_nsec = 50 * 1000000 };
		if (opt.scenario == SC_WORKLOAD && opt.rate > 0 && issuing() && !w->backlogged) {
			uint64_t due = open_loop_next_due(w);
			uint64_t wait = due > now ? due - now : 0;
			if (wait < (uint64_t)(opt.pacing_us * 1000))
				wait = (uint64_t)(opt.pacing_us * 1000);
			if (wait < (uint64_t)timeout.tv_nsec)
				timeout.tv_nsec = (long)wait;
		}
		if (opt.scenario == SC_FANOUT) {
			uint64_t due = last_tick + FANOUT_TICK_NS;
			uint64_t wait = due > now ? due - now : 0;
			if (wait < (uint64_t)timeout.tv_nsec)
				timeout.tv_nsec = (long)wait;
		}
		int n = epoll_pwait2(w->epfd, events, MAX_EVENTS, &timeout, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_pwait2: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;
			uint32_t ev = events[i].events;
			if (c->state == CONN_CLOSED)
				continue;
			if (c->state == CONN_CONNECTING) {
				if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					on_connected(w, c);
				continue;
			}
#ifdef LOADGEN_TLS
			if (c->state == CONN_HANDSHAKE) {
				on_handshake(w, c);
				continue;
			}
#endif
			if (ev & EPOLLIN) {
				/* Edge-triggered: read until a read comes back short. */
				ssize_t got;
				int dry = 0;
				while ((got = conn_read(w, c, READ_BUF_SIZE, &dry)) > 0 && !dry) {
				}
				if (got < 0)
					continue;
			} else if (ev & (EPOLLERR | EPOLLHUP)) {
				conn_close(w, c, 1);
				continue;
			}
			if (ev & EPOLLOUT) {
				if (conn_flush(w, c) < 0)
					continue;
			}
			switch (opt.scenario) {
			case SC_WORKLOAD:
				if (opt.rate <= 0)
					closed_loop_refill(w, c, now_ns());
				break;
			case SC_PRELOAD:
				preload_refill(w, c);
				break;
			case SC_NOREAD:
				noread_fill(w, c);
				break;
			default:
				break;
			}
		}
		now = now_ns();
		switch (opt.scenario) {
		case SC_WORKLOAD:
			if (opt.rate > 0)
				open_loop_issue(w, now);
			break;
		case SC_PRELOAD:
			if (__atomic_load_n(&preload_next, __ATOMIC_RELAXED) >= opt.keys && all_idle(w) &&
			    !waiting_connects(w) && next_connect >= w->nconns)
				goto out;
			break;
		case SC_IDLE:
			if (!w->ready && next_connect >= w->nconns && !waiting_connects(w) && all_idle(w))
				__atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
			break;
		case SC_FANOUT:
			if (now - last_tick >= FANOUT_TICK_NS) {
				double tick_s = (double)(now - last_tick) / 1e9;
				last_tick = now;
				fanout_tick(w, tick_s);
				if (next_connect >= w->nconns)
					fanout_round(w, now);
			}
			break;
		case SC_NOREAD:
			break;
		}
	}
out:
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Process: options, phases, the result                                */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

/*
 * Seconds this process's threads spent runnable but waiting for a CPU (schedstat's second
 * field): how long something else held the generator's CPU, which would make the
 * generator, not the server, the limit.
 */
static double sched_wait_seconds(void)
{
	DIR *dir = opendir("/proc/self/task");
	if (!dir)
		return 0;
	unsigned long long total = 0;
	struct dirent *entry;
	while ((entry = readdir(dir)) != NULL) {
		if (entry->d_name[0] == '.')
			continue;
		char path[300];
		snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", entry->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		unsigned long long run_ns, wait_ns;
		if (fscanf(f, "%llu %llu", &run_ns, &wait_ns) == 2)
			total += wait_ns;
		fclose(f);
	}
	closedir(dir);
	return (double)total / 1e9;
}

static double elapsed_s(uint64_t t)
{
	return (double)(t - start_ns) / 1e9;
}

static void event_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "{\"event\":%s,\"t\":%.3f}\n", buf, elapsed_s(now_ns()));
	fflush(stderr);
}

static void sum_counters(struct counters *into, const struct counters *from)
{
	into->requests += from->requests;
	into->get_requests += from->get_requests;
	into->get_keys += from->get_keys;
	into->hits += from->hits;
	into->sets += from->sets;
	into->set_failures += from->set_failures;
	into->errors += from->errors;
	into->value_bytes += from->value_bytes;
	into->bytes_in += from->bytes_in;
	into->bytes_out += from->bytes_out;
}

static uint64_t window_requests_so_far(void)
{
	uint64_t total = 0;
	for (int i = 0; i < nworkers; i++)
		total += __atomic_load_n(&workers[i].all.requests, __ATOMIC_RELAXED);
	return total;
}

static void sleep_until(uint64_t deadline, double progress_every_s, const char *phase_name)
{
	uint64_t last_report = now_ns();
	uint64_t last_requests = window_requests_so_far();
	while (!stop_requested) {
		uint64_t now = now_ns();
		if (now >= deadline)
			return;
		uint64_t step = deadline - now;
		if (step > 50000000ull)
			step = 50000000ull;
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step };
		nanosleep(&ts, NULL);
		if (opt.progress && progress_every_s > 0) {
			now = now_ns();
			if ((double)(now - last_report) / 1e9 >= progress_every_s) {
				uint64_t r = window_requests_so_far();
				double rate = (double)(r - last_requests) / ((double)(now - last_report) / 1e9);
				event_line("\"progress\",\"phase\":\"%s\",\"requests_per_s\":%.0f", phase_name, rate);
				last_report = now;
				last_requests = r;
			}
		}
	}
}

static void set_phase(int p, const char *name)
{
	__atomic_store_n(&phase, p, __ATOMIC_SEQ_CST);
	event_line("\"phase\",\"phase\":\"%s\"", name);
}

static void raise_fd_limit(int needed)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur >= (rlim_t)needed)
		return;
	if (rl.rlim_max < (rlim_t)needed)
		rl.rlim_max = (rlim_t)needed; /* works as root */
	rl.rlim_cur = (rlim_t)needed;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		die("%d connections need `ulimit -n %d`: %s", opt.conns, needed, strerror(errno));
}

static int probe_meta(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&server_addr, sizeof server_addr) < 0)
		die("cannot connect to %s:%d: %s", opt.host, opt.port, strerror(errno));
	struct timeval tv = { .tv_sec = 1, .tv_usec = 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (send(fd, "mn\r\n", 4, MSG_NOSIGNAL) != 4)
		die("send: %s", strerror(errno));
	char buf[64];
	size_t got = 0;
	while (got < sizeof buf - 1) {
		ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = 0;
	close(fd);
	int supported = strcmp(buf, "MN\r\n") == 0;
	char shown[64];
	size_t j = 0;
	for (size_t i = 0; i < got && j < sizeof shown - 3; i++) {
		unsigned char ch = (unsigned char)buf[i];
		if (ch == '\r' || ch == '\n' || ch == '"' || ch == '\\' || ch < 32 || ch > 126)
			continue;
		shown[j++] = (char)ch;
	}
	shown[j] = 0;
	printf("{\"tool\":\"loadgen\",\"probe\":\"meta\",\"supported\":%s,\"reply\":\"%s\"}\n",
	       supported ? "true" : "false", shown);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen --port N [options]\n"
		"  --host ADDR            server address (default 127.0.0.1)\n"
		"  --scenario NAME        workload | preload | idle | fanout | noread (default workload)\n"
		"  --protocol text|meta   request protocol (default text)\n"
		"  --conns N              connections in total (default 50)\n"
		"  --threads N            threads (default: one per CPU in the affinity mask)\n"
		"  --duration S           measurement window, seconds (default 10)\n"
		"  --warmup S             load before the window, not measured (default 0)\n"
		"  --drain S              longest wait for replies in flight at the end (default 2)\n"
		"  --hold S               idle: how long to hold the connections (default: --duration)\n"
		"  --rate R               open loop: requests/s in total (default 0 = closed loop)\n"
		"  --pacing-us US         open loop: shortest sleep between sending passes (default 50)\n"
		"  --pipeline N           closed loop: requests in flight per connection;\n"
		"                         open loop: most in flight per connection (default 1)\n"
		"  --multiget N           keys per get request (default 1)\n"
		"  --keys N               key count (default 100000)\n"
		"  --key-prefix S         (default key:)  --key-size N  pad keys to N bytes\n"
		"  --key-offset N         first key number (default 0)\n"
		"  --value-size N|A-B     value size, fixed or uniform in [A,B] (default 32)\n"
		"  --ratio S:G            set:get mix (default 0:1)\n"
		"  --rcvbuf BYTES         SO_RCVBUF of each connection (default: kernel's)\n"
		"  --read-rate BYTES      fanout: bytes/s each connection reads (default 1000000)\n"
		"  --progress             progress events on stderr every second\n"
		"  --seed N               random seed (default 1)\n"
		"  --probe-meta           print whether the server answers `mn` with `MN`, and exit\n"
		"  --tls                  speak TLS, certificate not verified (a build with -DLOADGEN_TLS)\n");
	exit(2);
}

static double parse_double(const char *s, const char *name)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end)
		die("%s: not a number: %s", name, s);
	return v;
}

static uint64_t parse_u64(const char *s, const char *name)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *end)
		die("%s: not a whole number: %s", name, s);
	return v;
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKES_VALUE                                  \
	do {                                         \
		if (!v)                              \
			die("%s needs a value", a);  \
		i++;                                 \
	} while (0)
		if (!strcmp(a, "--host")) {
			TAKES_VALUE;
			opt.host = v;
		} else if (!strcmp(a, "--port")) {
			TAKES_VALUE;
			opt.port = (int)parse_u64(v, a);
		} else if (!strcmp(a, "--threads")) {
			TAKES_VALUE;
			opt.threads = (int)parse_u64(v, a);
		} else if (!strcmp(a, "--conns")) {
			TAKES_VALUE;
			opt.conns = (int)parse_u64(v, a);
		} else if (!strcmp(a, "--duration")) {
			TAKES_VALUE;
			opt.duration_s = parse_double(v, a);
		} else if (!strcmp(a, "--warmup")) {
			TAKES_VALUE;
			opt.warmup_s = parse_double(v, a);
		} else if (!strcmp(a, "--drain")) {
			TAKES_VALUE;
			opt.drain_s = parse_double(v, a);
		} else if (!strcmp(a, "--hold")) {
			TAKES_VALUE;
			opt.hold_s = parse_double(v, a);
		} else if (!strcmp(a, "--rate")) {
			TAKES_VALUE;
			opt.rate = parse_double(v, a);
		} else if (!strcmp(a, "--pacing-us")) {
			TAKES_VALUE;
			opt.pacing_us = parse_double(v, a);
		} else if (!strcmp(a, "--pipeline")) {
			TAKES_VALUE;
			opt.pipeline = (int)parse_u64(v, a);
		} else if (!strcmp(a, "--multiget")) {
			TAKES_VALUE;
			opt.multiget = (int)parse_u64(v, a);
		} else if (!strcmp(a, "--keys")) {
			TAKES_VALUE;
			opt.keys = parse_u64(v, a);
		} else if (!strcmp(a, "--key-prefix")) {
			TAKES_VALUE;
			opt.key_prefix = v;
		} else if (!strcmp(a, "--key-size")) {
			TAKES_VALUE;
			opt.key_size = (int)parse_u64(v, a);
		} else if (!strcmp(a, "--key-offset")) {
			TAKES_VALUE;
			opt.key_offset = parse_u64(v, a);
		} else if (!strcmp(a, "--value-size")) {
			TAKES_VALUE;
			const char *dash = strchr(v, '-');
			if (dash) {
				char lo[32];
				size_t n = (size_t)(dash - v);
				if (n >= sizeof lo)
					die("--value-size: bad range %s", v);
				memcpy(lo, v, n);
				lo[n] = 0;
				opt.value_min = (uint32_t)parse_u64(lo, a);
				opt.value_max = (uint32_t)parse_u64(dash + 1, a);
			} else {
				opt.value_min = opt.value_max = (uint32_t)parse_u64(v, a);
			}
			if (opt.value_min > opt.value_max)
				die("--value-size: empty range %s", v);
		} else if (!strcmp(a, "--ratio")) {
			TAKES_VALUE;
			unsigned s, g;
			if (sscanf(v, "%u:%u", &s, &g) != 2 || s + g == 0)
				die("--ratio wants SET:GET, e.g. 1:10");
			opt.ratio_set = s;
			opt.ratio_get = g;
		} else if (!strcmp(a, "--protocol")) {
			TAKES_VALUE;
			if (!strcmp(v, "text"))
				opt.protocol = PROTO_TEXT;
			else if (!strcmp(v, "meta"))
				opt.protocol = PROTO_META;
			else
				die("--protocol: text or meta");
		} else if (!strcmp(a, "--scenario")) {
			TAKES_VALUE;
			if (!strcmp(v, "workload"))
				opt.scenario = SC_WORKLOAD;
			else if (!strcmp(v, "preload"))
				opt.scenario = SC_PRELOAD;
			else if (!strcmp(v, "idle"))
				opt.scenario = SC_IDLE;
			else if (!strcmp(v, "fanout"))
				opt.scenario = SC_FANOUT;
			else if (!strcmp(v, "noread"))
				opt.scenario = SC_NOREAD;
			else
				die("--scenario: workload, preload, idle, fanout or noread");
		} else if (!strcmp(a, "--rcvbuf")) {
			TAKES_VALUE;
			opt.rcvbuf = (int)parse_u64(v, a);
		} else if (!strcmp(a, "--read-rate")) {
			TAKES_VALUE;
			opt.read_rate = parse_double(v, a);
		} else if (!strcmp(a, "--seed")) {
			TAKES_VALUE;
			opt.seed = parse_u64(v, a);
		} else if (!strcmp(a, "--progress")) {
			opt.progress = 1;
		} else if (!strcmp(a, "--probe-meta")) {
			opt.probe_meta = 1;
		} else if (!strcmp(a, "--tls")) {
#ifndef LOADGEN_TLS
			die("--tls: this loadgen was built without TLS (-DLOADGEN_TLS, -lssl -lcrypto)");
#endif
			opt.tls = 1;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
		} else {
			die("unknown option %s (see --help)", a);
		}
#undef TAKES_VALUE
	}
	if (opt.port <= 0 || opt.port > 65535)
		die("--port is required");
	if (opt.conns < 1 || opt.pipeline < 1 || opt.multiget < 1 || opt.keys < 1)
		die("--conns, --pipeline, --multiget and --keys must be at least 1");
	if (opt.multiget > 100)
		die("--multiget: at most 100 keys");
	if (opt.hold_s <= 0)
		opt.hold_s = opt.duration_s;
}

static void print_latency(const struct histogram *h)
{
	printf("\"latency_us\":{\"count\":%llu,\"mean\":%.1f,\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,"
	       "\"p999\":%.1f,\"p9999\":%.1f,\"max\":%.1f}",
	       (unsigned long long)h->count, h->count ? (double)h->sum / (double)h->count / 1e3 : 0.0,
	       (double)hist_percentile(h, 50) / 1e3, (double)hist_percentile(h, 90) / 1e3,
	       (double)hist_percentile(h, 99) / 1e3, (double)hist_percentile(h, 99.9) / 1e3,
	       (double)hist_percentile(h, 99.99) / 1e3, (double)h->max / 1e3);
}

static void print_counters(const char *name, const struct counters *k, double seconds)
{
	double s = seconds > 0 ? seconds : 1;
	printf("\"%s\":{\"requests\":%llu,\"get_requests\":%llu,\"get_keys\":%llu,\"hits\":%llu,\"sets\":%llu,"
	       "\"set_failures\":%llu,\"errors\":%llu,\"value_bytes\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu,"
	       "\"requests_per_s\":%.1f,\"keys_per_s\":%.1f,\"value_bytes_per_s\":%.1f}",
	       name, (unsigned long long)k->requests, (unsigned long long)k->get_requests,
	       (unsigned long long)k->get_keys, (unsigned long long)k->hits, (unsigned long long)k->sets,
	       (unsigned long long)k->set_failures, (unsigned long long)k->errors,
	       (unsigned long long)k->value_bytes, (unsigned long long)k->bytes_in,
	       (unsigned long long)k->bytes_out, (double)k->requests / s,
	       (double)(k->get_keys + k->sets) / s, (double)k->value_bytes / s);
}

static const char *scenario_name(void)
{
	static const char *names[] = { "workload", "preload", "idle", "fanout", "noread" };
	return names[opt.scenario];
}

int main(int argc, char **argv)
{
	start_ns = now_ns();
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	memset(&server_addr, 0, sizeof server_addr);
	server_addr.sin_family = AF_INET;
	server_addr.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &server_addr.sin_addr) != 1)
		die("--host: an IPv4 address, not %s", opt.host);
	if (opt.probe_meta)
		return probe_meta();
#ifdef LOADGEN_TLS
	if (opt.tls)
		tls_init();
#endif

	cpu_set_t mask;
	int cpus[MAX_THREADS];
	int ncpus = 0;
	if (sched_getaffinity(0, sizeof mask, &mask) == 0) {
		for (int c = 0; c < CPU_SETSIZE && ncpus < MAX_THREADS; c++)
			if (CPU_ISSET(c, &mask))
				cpus[ncpus++] = c;
	}
	if (opt.threads <= 0)
		opt.threads = ncpus > 0 ? ncpus : 1;
	if (opt.threads > MAX_THREADS)
		opt.threads = MAX_THREADS;
	if (opt.threads > opt.conns)
		opt.threads = opt.conns;
	nworkers = opt.threads;
	raise_fd_limit(opt.conns + 64);
	build_keys();

	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		w->id = i;
		w->cpu = ncpus >= nworkers ? cpus[i] : -1;
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (w->epfd < 0)
			die("epoll_create1: %s", strerror(errno));
		w->nconns = opt.conns / nworkers + (i < opt.conns % nworkers ? 1 : 0);
		w->conns = calloc((size_t)w->nconns, sizeof(struct conn));
		w->rbuf = malloc(READ_BUF_SIZE);
		if (!w->conns || !w->rbuf)
			die("out of memory for connections");
		for (int j = 0; j < w->nconns; j++)
			w->conns[j].fd = -1;
		w->rng = opt.seed * 0x100000001b3ull + (uint64_t)i;
		w->rate = opt.rate / nworkers;
	}

	const char *warm_name = opt.scenario == SC_WORKLOAD ? "warmup" : "setup";
	set_phase(PHASE_WARMUP, warm_name);
	for (int i = 0; i < nworkers; i++)
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			die("pthread_create failed");

	uint64_t measure_start = 0, measure_end = 0;
	double cpu_start = 0, cpu_end = 0, wait_start = 0, wait_end = 0;
	if (opt.scenario == SC_PRELOAD) {
		measure_start = now_ns();
		cpu_start = cpu_seconds();
		for (int i = 0; i < nworkers; i++)
			pthread_join(workers[i].thread, NULL);
		measure_end = now_ns();
		cpu_end = cpu_seconds();
	} else {
		if (opt.scenario == SC_IDLE) {
			/* Wait (bounded) for every connection to be open and answered once. */
			uint64_t deadline = now_ns() + 60ull * 1000000000ull;
			for (;;) {
				int ready = 1;
				for (int i = 0; i < nworkers; i++)
					ready &= __atomic_load_n(&workers[i].ready, __ATOMIC_ACQUIRE);
				if (ready || stop_requested || now_ns() > deadline)
					break;
				struct timespec ts = { .tv_sec = 0, .tv_nsec = 10000000 };
				nanosleep(&ts, NULL);
			}
			uint64_t connected = 0;
			for (int i = 0; i < nworkers; i++)
				connected += __atomic_load_n(&workers[i].connected, __ATOMIC_RELAXED);
			event_line("\"ready\",\"connected\":%llu", (unsigned long long)connected);
		} else if (opt.warmup_s > 0) {
			sleep_until(now_ns() + (uint64_t)(opt.warmup_s * 1e9), 1.0, warm_name);
		}
		measure_start = now_ns();
		cpu_start = cpu_seconds();
		wait_start = sched_wait_seconds();
		set_phase(PHASE_MEASURE, "measure");
		double window = opt.scenario == SC_IDLE ? opt.hold_s : opt.duration_s;
		sleep_until(measure_start + (uint64_t)(window * 1e9), 1.0, "measure");
		measure_end = now_ns();
		cpu_end = cpu_seconds();
		wait_end = sched_wait_seconds();
		set_phase(PHASE_DRAIN, "drain");
		/* Workers leave once their replies are in; the drain time bounds the wait. */
		uint64_t drain_deadline = now_ns() + (uint64_t)(opt.drain_s * 1e9);
		for (int i = 0; i < nworkers; i++) {
			for (;;) {
				if (opt.scenario == SC_NOREAD || opt.scenario == SC_IDLE || now_ns() > drain_deadline ||
				    stop_requested) {
					__atomic_store_n(&phase, PHASE_DONE, __ATOMIC_SEQ_CST);
				}
				struct timespec ts = { .tv_sec = 0, .tv_nsec = 5000000 };
				if (pthread_tryjoin_np(workers[i].thread, NULL) == 0)
					break;
				nanosleep(&ts, NULL);
			}
		}
		__atomic_store_n(&phase, PHASE_DONE, __ATOMIC_SEQ_CST);
	}

	struct histogram *hist = calloc(1, sizeof *hist);
	struct counters all = { 0 }, window = { 0 };
	struct sent_totals sent = { 0 };
	uint64_t unexpected = 0, connect_errors = 0, disconnects = 0, connected = 0, in_flight = 0,
		 rounds = 0, late_max = 0;
	for (int i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];
		hist_merge(hist, &w->hist);
		sum_counters(&all, &w->all);
		sum_counters(&window, &w->window);
		sent.get_requests += w->sent.get_requests;
		sent.get_keys += w->sent.get_keys;
		sent.sets += w->sent.sets;
		unexpected += w->unexpected;
		connect_errors += w->connect_errors;
		disconnects += w->disconnects;
		connected += w->connected;
		rounds += w->rounds;
		if (w->late_max > late_max)
			late_max = w->late_max;
		for (int j = 0; j < w->nconns; j++) {
			if (w->conns[j].state != CONN_CLOSED)
				in_flight += w->conns[j].in_flight;
		}
	}
	double seconds = (double)(measure_end - measure_start) / 1e9;
	double cpu = cpu_end - cpu_start;

	printf("{\"tool\":\"loadgen\",\"version\":\"%s\",\"scenario\":\"%s\",\"protocol\":\"%s\",\"mode\":\"%s\","
	       "\"threads\":%d,\"conns\":%d,\"connected\":%llu,\"pipeline\":%d,\"multiget\":%d,\"keys\":%llu,"
	       "\"value_size\":[%u,%u],\"ratio\":[%u,%u],\"rate\":%.1f,\"pacing_us\":%.1f,\"tls\":%s,\"seconds\":%.4f,",
	       LOADGEN_VERSION, scenario_name(), opt.protocol == PROTO_TEXT ? "text" : "meta",
	       opt.rate > 0 ? "open" : "closed", nworkers, opt.conns, (unsigned long long)connected, opt.pipeline,
	       opt.multiget, (unsigned long long)opt.keys, opt.value_min, opt.value_max, opt.ratio_set,
	       opt.ratio_get, opt.rate, opt.pacing_us, opt.tls ? "true" : "false", seconds);
	print_counters("window", &window, seconds);
	printf(",");
	print_counters("all", &all, 0);
	printf(",\"sent\":{\"get_requests\":%llu,\"get_keys\":%llu,\"sets\":%llu},",
	       (unsigned long long)sent.get_requests, (unsigned long long)sent.get_keys,
	       (unsigned long long)sent.sets);
	print_latency(hist);
	printf(",\"cpu_s\":%.3f,\"cpu_percent\":%.1f,\"cpu_wait_s\":%.4f,\"in_flight_at_end\":%llu,"
	       "\"unexpected_replies\":%llu,\"connect_errors\":%llu,\"disconnects\":%llu,\"rounds\":%llu,"
	       "\"open_loop_backlog_max\":%llu}\n",
	       cpu, seconds > 0 ? cpu / seconds / nworkers * 100.0 : 0.0, wait_end - wait_start, (unsigned long long)in_flight,
	       (unsigned long long)unexpected,
	       (unsigned long long)connect_errors, (unsigned long long)disconnects, (unsigned long long)rounds,
	       (unsigned long long)late_max);
	fflush(stdout);
	return 0;
}
