// SPDX-License-Identifier: GPL-2.0
/*
 * qemu-exit - end the guest with a verdict: writes CODE to qemu's isa-debug-exit port
 * (iobase 0xf4), and qemu exits with status (CODE << 1) | 1: 1 for 0 (pass), 3 for 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>

int main(int argc, char **argv)
{
	int code = argc > 1 ? atoi(argv[1]) : 1;

	if (ioperm(0xf4, 4, 1)) {
		perror("ioperm");
		return 1;
	}
	outb(code, 0xf4);
	return 0;
}
