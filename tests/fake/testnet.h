/*
 * testnet.h: loopback sockets for the unit tests.
 */
#ifndef SSMP_TESTNET_H
#define SSMP_TESTNET_H

/*
 * Returns a TCP socket bound to a free port on 127.0.0.1 (listening with a
 * backlog of 4 if listening is nonzero) and that port in *port; -1 on error.
 */
int testnet_bind(int listening, int *port);

#endif
