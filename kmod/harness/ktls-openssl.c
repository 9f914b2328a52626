// SPDX-License-Identifier: GPL-2.0
/*
 * ktls-openssl.c - does Debian's OpenSSL hand a server's session keys to the kernel?
 *
 * For kmod/ktls-guest.sh (harness/guest/ktls-probe.sh): a TLS server on a loopback
 * socket with SSL_OP_ENABLE_KTLS, as memcached -o ssl_kernel_tls sets it, and a client
 * in a child process, both through the system's libssl (socket BIOs: SSL_set_fd).  For
 * each protocol version and cipher it prints whether the server's write BIO went to the
 * kernel (BIO_get_ktls_send), what /proc/net/tls_stat's TlsTxSw gained, and whether a
 * 200 KB reply sent with SSL_write, then with SSL_sendfile from a memfd (kernel TLS only),
 * arrived intact.  Usage: ktls-openssl CERT KEY
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIZE (200 * 1024)

static long tls_stat(const char *name)
{
	FILE *f = fopen("/proc/net/tls_stat", "r");
	char key[64];
	long v, found = -1;
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2)
		if (!strcmp(key, name))
			found = v;
	fclose(f);
	return found;
}

static void fill(unsigned char *p)
{
	for (int i = 0; i < SIZE; i++)
		p[i] = (unsigned char)(i * 31 + 7);
}

/* The client: reads two replies of SIZE bytes, exits 0 if both are intact. */
static int client(int port, int version, const char *cipher)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	if (version == TLS1_3_VERSION)
		SSL_CTX_set_ciphersuites(ctx, cipher);
	else
		SSL_CTX_set_cipher_list(ctx, cipher);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		return 3;
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1)
		return 4;
	static unsigned char want[SIZE], got[SIZE];
	fill(want);
	for (int round = 0; round < 2; round++) {
		size_t have = 0;
		while (have < SIZE) {
			int n = SSL_read(ssl, got + have, SIZE - (int)have);
			if (n <= 0)
				return 5;
			have += (size_t)n;
		}
		if (memcmp(got, want, SIZE))
			return 6;
	}
	return 0;
}

static void one(const char *cert, const char *key, int version, const char *cipher)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stdout);
		exit(2);
	}
	SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	if (version == TLS1_3_VERSION)
		SSL_CTX_set_ciphersuites(ctx, cipher);
	else
		SSL_CTX_set_cipher_list(ctx, cipher);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	bind(ls, (struct sockaddr *)&a, sizeof a);
	listen(ls, 1);
	getsockname(ls, (struct sockaddr *)&a, &len);
	long tx0 = tls_stat("TlsTxSw");
	pid_t pid = fork();
	if (pid == 0)
		_exit(client(ntohs(a.sin_port), version, cipher));
	int fd = accept(ls, NULL, NULL);
	SSL *ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	int ok = SSL_accept(ssl) == 1;
	int ktls = ok && BIO_get_ktls_send(SSL_get_wbio(ssl));
	static unsigned char buf[SIZE];
	fill(buf);
	int wrote = ok && SSL_write(ssl, buf, SIZE) == SIZE;
	/* The second reply: from a memfd with SSL_sendfile where the kernel encrypts, else SSL_write. */
	const char *how = "SSL_write";
	int second = 0;
	if (ok && ktls) {
		int mfd = memfd_create("record", 0);
		if (write(mfd, buf, SIZE) == SIZE) {
			off_t off = 0;
			while (off < SIZE) {
				ossl_ssize_t n = SSL_sendfile(ssl, mfd, off, SIZE - (size_t)off, 0);
				if (n <= 0)
					break;
				off += n;
			}
			second = off == SIZE;
		}
		how = "SSL_sendfile";
		close(mfd);
	} else if (ok) {
		second = SSL_write(ssl, buf, SIZE) == SIZE;
	}
	int status = 0;
	waitpid(pid, &status, 0);
	printf("%s %s: handshake %s, BIO_get_ktls_send %d, TlsTxSw +%ld, reply 1 (SSL_write) %s, reply 2 (%s) %s, client %s\n",
	       version == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2", cipher, ok ? "ok" : "FAILED", ktls,
	       tls_stat("TlsTxSw") - tx0, wrote ? "sent" : "FAILED", how, second ? "sent" : "FAILED",
	       WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "read both intact" : "FAILED");
	if (!ok)
		ERR_print_errors_fp(stdout);
	SSL_free(ssl);
	close(fd);
	close(ls);
	SSL_CTX_free(ctx);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: ktls-openssl CERT KEY\n");
		return 2;
	}
	printf("%s; TlsTxSw counter %s\n", OpenSSL_version(OPENSSL_VERSION), tls_stat("TlsTxSw") < 0 ? "absent" : "present");
	one(argv[1], argv[2], TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384");
	one(argv[1], argv[2], TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256");
	one(argv[1], argv[2], TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256");
	one(argv[1], argv[2], TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384");
	return 0;
}
