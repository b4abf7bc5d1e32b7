/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Custom service rules (server config custom_services, docs/tagging.md): NAME=CIDR[:PORT]
 * items name the traffic of an address range, optionally of one server port. The tagger
 * matches a row's server side on its address and server_port and its client side on its
 * address alone (a rule with a port names servers, never clients).
 */
#ifndef OB_TAG_CUSTOM_RULES_H
#define OB_TAG_CUSTOM_RULES_H

#include <stddef.h>
#include <stdint.h>

#define CUSTOM_RULE_NAME_MAX 64 /* NUL included */
#define CUSTOM_RULES_MAX     4096

struct custom_rule {
	char name[CUSTOM_RULE_NAME_MAX];
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	uint8_t prefix; /* bits */
	uint16_t port;	/* 0: any port */
	int64_t id;	/* tag_id(TAG_CUSTOM_SERVICE, name) */
};

struct custom_rules {
	size_t n;
	struct custom_rule *r;
};

/*
 * Parse items ("web=10.0.0.0/24:80", "db=10.0.1.5", "v6=[fd00::/64]:443", "any6=fd00::1")
 * separated by commas (a CONF_LIST value). Names: 1..63 of [A-Za-z0-9._-]; the address
 * bits beyond the prefix must be 0; port 1..65535. 0, or -EINVAL with the item and the
 * reason in err, or -ENOMEM. out is empty on failure.
 */
int custom_rules_parse(const char *list, struct custom_rules *out, char *err, size_t errlen);
void custom_rules_free(struct custom_rules *rs);

/*
 * The rule naming an address: with port > 0 (a server side), rules of that port and rules
 * without a port; with port 0 (a client side), rules without a port only. The most specific
 * wins: a rule with a port over one without, then the longest prefix, then the first
 * listed. NULL when none matches.
 */
const struct custom_rule *custom_rules_match(const struct custom_rules *rs, uint8_t family,
					     const uint8_t *addr, uint16_t port);

#endif
