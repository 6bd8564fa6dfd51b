/* The db target's shard (tests/targets/db.c), as a script would declare
 * it: included by cdefs.test's cases. */
#ifndef SHARD_H
#define SHARD_H

#define NSHARDS 4

struct version {
	unsigned int epoch;
	unsigned long version;
};

struct shard {
	int sid;
	char name[16];
	struct version v;
	struct shard *peer;
};

#endif
