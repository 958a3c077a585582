/*-------------------------------------------------------------------------
 *
 * outbound.h
 *	  The outbound network policy (outbound.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_ELT_OUTBOUND_H
#define PG_ELT_OUTBOUND_H

#include "postgres.h"

#include "utils/guc.h"

struct sockaddr;
extern bool elt_outbound_allowed(const struct sockaddr *sa, const char **why);
extern bool elt_check_network_list(char **newval, void **extra, GucSource source);
extern void elt_assign_network_list(const char *newval, void *extra);
extern bool elt_check_port_list(char **newval, void **extra, GucSource source);
extern void elt_assign_port_list(const char *newval, void *extra);

#endif							/* PG_ELT_OUTBOUND_H */
