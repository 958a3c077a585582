/*-------------------------------------------------------------------------
 *
 * outbound.c
 *	  Which addresses a load may connect to.
 *
 *	  A load runs inside the database server, so a URL is a request the
 *	  server makes: to the cloud's metadata service, to another service on
 *	  the private network, to the server's own ports.  For roles that are
 *	  not superusers, loopback, private, link-local and the other internal
 *	  address ranges are refused unless a superuser lists them in
 *	  pg_elt.allowed_networks, and pg_elt.allowed_ports (when set) limits
 *	  the ports.
 *
 *	  The check is made on the address libcurl is about to connect to (its
 *	  open-socket callback), not on the host name in the URL: so it holds
 *	  for every address a name resolves to, for a name that resolves
 *	  differently the second time, and for every redirect hop.
 *
 *	  The callback runs inside libcurl, so nothing here may palloc or
 *	  ereport: the settings are parsed by their GUC check hooks into
 *	  malloc'd lists, and a refusal is reported by the caller afterwards.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "utils/guc.h"

#include "outbound.h"

typedef struct NetBlock
{
	int			family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int			bits;
} NetBlock;

typedef struct NetList
{
	int			n;
	NetBlock	blocks[FLEXIBLE_ARRAY_MEMBER];
} NetList;

typedef struct PortList
{
	int			n;
	int			ports[FLEXIBLE_ARRAY_MEMBER];
} PortList;

/* The parsed settings; owned by the GUC machinery (they are its "extra"). */
static NetList *allowed_networks = NULL;
static PortList *allowed_ports = NULL;

/* Address ranges that are not the public internet. */
static const char *const internal_networks[] = {
	"0.0.0.0/8",				/* "this network" */
	"10.0.0.0/8",				/* private */
	"100.64.0.0/10",			/* carrier-grade NAT */
	"127.0.0.0/8",				/* loopback */
	"169.254.0.0/16",			/* link-local: cloud metadata services */
	"172.16.0.0/12",			/* private */
	"192.0.0.0/24",				/* IETF protocol assignments */
	"192.168.0.0/16",			/* private */
	"198.18.0.0/15",			/* benchmarking */
	"224.0.0.0/3",				/* multicast, reserved, broadcast */
	"::/96",					/* unspecified, loopback, IPv4-compatible */
	"fc00::/7",					/* unique local */
	"fe80::/10",				/* link-local */
	"fec0::/10",				/* site-local (deprecated) */
	"ff00::/8",					/* multicast */
	"64:ff9b:1::/48",			/* local-use NAT64 */
	NULL
};

/* Parses "addr" or "addr/bits"; false when it is not one. */
static bool
outbound_parse_block(const char *text, NetBlock *block)
{
	char		buf[INET6_ADDRSTRLEN + 8];
	char	   *slash;
	int			maxbits;

	if (strlen(text) >= sizeof(buf))
		return false;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	memset(block, 0, sizeof(NetBlock));
	if (inet_pton(AF_INET, buf, block->addr) == 1)
		block->family = AF_INET, maxbits = 32;
	else if (inet_pton(AF_INET6, buf, block->addr) == 1)
		block->family = AF_INET6, maxbits = 128;
	else
		return false;
	block->bits = maxbits;
	if (slash)
	{
		char	   *end;
		long		bits = strtol(slash + 1, &end, 10);

		if (slash[1] == '\0' || *end != '\0' || bits < 0 || bits > maxbits)
			return false;
		block->bits = (int) bits;
	}
	return true;
}

static bool
outbound_in_block(int family, const unsigned char *addr, const NetBlock *block)
{
	int			full = block->bits / 8;
	int			rest = block->bits % 8;

	if (family != block->family || memcmp(addr, block->addr, full) != 0)
		return false;
	return rest == 0 ||
		((addr[full] ^ block->addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

static bool
outbound_in_list(int family, const unsigned char *addr, const NetList *list)
{
	for (int i = 0; list && i < list->n; i++)
		if (outbound_in_block(family, addr, &list->blocks[i]))
			return true;
	return false;
}

static bool
outbound_is_internal(int family, const unsigned char *addr)
{
	for (int i = 0; internal_networks[i]; i++)
	{
		NetBlock	block;

		if (outbound_parse_block(internal_networks[i], &block) &&
			outbound_in_block(family, addr, &block))
			return true;
	}
	return false;
}

/*
 * May a load by a role that is not a superuser connect to this address?
 * IPv4 addresses written as IPv6 (::ffff:a.b.c.d, and NAT64's
 * 64:ff9b::a.b.c.d) are judged as the IPv4 address they carry.  On
 * refusal, *why says which rule refused it.
 */
bool
elt_outbound_allowed(const struct sockaddr *sa, const char **why)
{
	static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	int			family = sa->sa_family;
	const unsigned char *addr;
	int			port;

	if (family == AF_INET)
	{
		addr = (const unsigned char *) &((const struct sockaddr_in *) sa)->sin_addr;
		port = ntohs(((const struct sockaddr_in *) sa)->sin_port);
	}
	else if (family == AF_INET6)
	{
		addr = (const unsigned char *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
		port = ntohs(((const struct sockaddr_in6 *) sa)->sin6_port);
		if (memcmp(addr, v4_mapped, 12) == 0 || memcmp(addr, nat64, 12) == 0)
			family = AF_INET, addr += 12;
	}
	else
	{
		*why = "it is not an internet address";
		return false;
	}

	if (allowed_ports && allowed_ports->n > 0)
	{
		bool		listed = false;

		for (int i = 0; i < allowed_ports->n; i++)
			listed |= (allowed_ports->ports[i] == port);
		if (!listed)
		{
			*why = "the port is not in pg_elt.allowed_ports";
			return false;
		}
	}
	if (outbound_is_internal(family, addr) && !outbound_in_list(family, addr, allowed_networks))
	{
		*why = "it is an internal address (loopback, private, link-local or reserved) not in pg_elt.allowed_networks";
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * The settings
 * ---------------------------------------------------------------------
 */

/* Splits a comma-separated setting into trimmed items, in place. */
static int
outbound_split(char *text, char **items, int max)
{
	int			n = 0;

	for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ","))
	{
		char	   *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		if (n == max)
			return -1;
		items[n++] = tok;
	}
	return n;
}

#define OUTBOUND_MAX_ITEMS 256

/* Parses one item of a list setting into *item; false when it is not one. */
typedef bool (*OutboundItemParser) (const char *text, void *item);

static bool
outbound_parse_port(const char *text, void *item)
{
	char	   *end;
	long		port = strtol(text, &end, 10);

	if (*end != '\0' || port < 1 || port > 65535)
		return false;
	*(int *) item = (int) port;
	return true;
}

static bool
outbound_parse_network(const char *text, void *item)
{
	return outbound_parse_block(text, (NetBlock *) item);
}

/*
 * The check hook of a list setting: parses every item into a malloc'd
 * list (an int count, then items of item_size from offset items_at),
 * which becomes the setting's extra.  what says what an item must be.
 */
static bool
outbound_check_list(const char *value, void **extra, size_t items_at, size_t item_size,
					OutboundItemParser parse, const char *what)
{
	char	   *copy = pstrdup(value);
	char	   *items[OUTBOUND_MAX_ITEMS];
	int			n = outbound_split(copy, items, OUTBOUND_MAX_ITEMS);
	char	   *list;

	if (n < 0)
	{
		GUC_check_errdetail("At most %d items can be listed.", OUTBOUND_MAX_ITEMS);
		return false;
	}
	list = malloc(items_at + item_size * Max(n, 1));
	if (list == NULL)
		return false;
	*(int *) list = n;
	for (int i = 0; i < n; i++)
		if (!parse(items[i], list + items_at + i * item_size))
		{
			GUC_check_errdetail("\"%s\" is not %s.", items[i], what);
			free(list);
			return false;
		}
	*extra = list;
	return true;
}

bool
elt_check_network_list(char **newval, void **extra, GucSource source)
{
	return outbound_check_list(*newval, extra, offsetof(NetList, blocks), sizeof(NetBlock),
							   outbound_parse_network,
							   "an IP address or a CIDR block such as 10.0.0.0/8");
}

void
elt_assign_network_list(const char *newval, void *extra)
{
	allowed_networks = (NetList *) extra;
}

bool
elt_check_port_list(char **newval, void **extra, GucSource source)
{
	return outbound_check_list(*newval, extra, offsetof(PortList, ports), sizeof(int),
							   outbound_parse_port, "a port number (1-65535)");
}

void
elt_assign_port_list(const char *newval, void *extra)
{
	allowed_ports = (PortList *) extra;
}
