/*
 * region.h: the fake region's configuration, shared by its services.
 *
 * The server process fills one struct region from the command line before
 * it forks; every connection child inherits it read-only. Cross-process
 * state (sessions, fault budgets, logs) lives in files under state_dir.
 */
#ifndef SSMP_FAKE_REGION_H
#define SSMP_FAKE_REGION_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "err.h"
#include "hostile.h"
#include "log.h"

#define REGION_DEFAULT_AK "AKIDFAKEREGION"
#define REGION_DEFAULT_SK "fakeregion/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define REGION_DEFAULT_REGION "us-east-1"
#define REGION_AGENT_VERSION "3.3.1142.0"
#define REGION_MAX_OFFLINE 16

/* Fault switches; zero values mean "off". */
struct region_faults {
	uint64_t drop_after;       /* drop the websocket after this many output bytes */
	unsigned drop_count;       /* ... this many times in total (budget file) */
	unsigned duplicate;        /* send every Nth output message twice */
	unsigned reorder;          /* swap every Nth output message with the next */
	unsigned withhold_ack;     /* do not ack every Nth input message */
	int pause_ms;              /* >0: pause_publication once, start after ms */
	int pace;                  /* 1024-byte chunks with 1 ms sleeps */
	int trust_digests;         /* the agent leaves client digests unchecked */
	unsigned throttle;         /* the first N API calls are throttled */
	int throttle_status;       /* HTTP status for those (400 or 429) */
	int resume_no_token;       /* ResumeSession answers an empty token */
	int refuse_target;         /* the target port refuses connections */
	const char *offline[REGION_MAX_OFFLINE]; /* targets not connected */
	size_t noffline;
	struct hostile hostile;     /* --hostile modes (hostile.h) */
	int drop_mode;             /* REGION_DROP_*: how --drop-after cuts */
	int drop_input;            /* client input bytes count for --drop-after too */
	uint64_t close_after;      /* channel_closed once this many stream bytes moved */
	unsigned throttle_resume;  /* the first N ResumeSession calls are throttled */
	unsigned api_down_after;   /* after N API calls the API stops answering ... */
	unsigned api_down_count;   /* ... for this many calls (0: for good) */
	uint16_t public_port;      /* port named in StreamUrl (a relay); 0: ours */
};

/* What a dropped websocket looks like to the client. */
enum {
	REGION_DROP_RST = 0,       /* TCP reset, no close frame */
	REGION_DROP_CLOSE1001,     /* a close frame 1001 (going away) */
	REGION_DROP_BLACKHOLE,     /* silence: no data, no pongs, TCP stays open */
};

struct inventory; /* inventory.h */

struct region {
	const char *state_dir;
	char target_host[256];     /* what the agent dials */
	uint16_t target_port;
	uint16_t port;             /* the bound listening port */
	const char *access_key;
	const char *secret_key;
	const char *region;
	int plain;                 /* http/ws instead of https/wss */
	struct region_faults f;
	/* Random per server run: stream tokens are HMACs under it. */
	uint8_t secret[32];
	/* Random per server run: names this server's abstract unix sockets. */
	char instance[17];
	SSL_CTX *ssl;              /* NULL when plain */
	const struct inventory *inv; /* --inventory: instances of several regions; may be NULL */
	const struct logger *lg;
	/* EC2 Instance Connect (fakeeic.h): --eic, --no-eic, --deny */
	int eic;                   /* answer DescribeInstances with the EIC inventory */
	const char *no_eic[REGION_MAX_OFFLINE]; /* instances without Instance Connect */
	size_t nno_eic;
	const char *deny[REGION_MAX_OFFLINE];   /* operations answered AccessDenied */
	size_t ndeny;
	long clock_skew;           /* --clock-skew: seconds added to the server's clock */
};

/* Returns nonzero if target was named with --offline. */
int region_target_offline(const struct region *r, const char *target);

#endif
