/*-------------------------------------------------------------------------
 *
 * credentials.c
 *	  Named credentials, as Prefect's blocks: a role keeps an API token, a
 *	  user and password, or object-store keys under a name, and loads use
 *	  them by that name ("credential": "nyc_token"), never by value.
 *
 *	  The values are write-only.  elt.credentials is the extension owner's
 *	  alone; these functions check the caller's rights and then write it
 *	  as the extension owner (catalog.c), as run history is written.  A
 *	  load turns the credential into request headers in its own memory, so
 *	  the value never reaches a message, a log line, a task's inputs or
 *	  the statement text of any query.
 *
 *	  A name finds the caller's own credential first, else one of a role
 *	  the caller is a member of; a name that only another role has is
 *	  refused (42501) before any request is made.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "catalog.h"
#include "credentials.h"
#include "jsonb_util.h"
#include "object_store.h"

PG_FUNCTION_INFO_V1(elt_create_credential);
PG_FUNCTION_INFO_V1(elt_alter_credential);
PG_FUNCTION_INFO_V1(elt_drop_credential);
PG_FUNCTION_INFO_V1(elt_check_credential);

/* A string field of a credential's settings or secret (checked when written). */
static char *
credential_field(Jsonb *fields, const char *key)
{
	JsonbValue *v = fields ? elt_jsonb_get(fields, key) : NULL;

	return v && v->type == jbvString ? elt_jsonb_value_text(v) : NULL;
}

/*
 * The credential the current user calls name: its own, else one of a role
 * it is a member of.  An error when there is none it may use.
 */
static void
credential_resolve(const char *name, Credential *cred)
{
	if (!elt_catalog_credential_find(name, GetUserId(), cred))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("credential \"%s\" does not exist", name),
				 errhint("elt.create_credential makes one; elt.credential_list shows those you may use.")));
	if (!cred->usable)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for credential \"%s\"", name),
				 errdetail("It belongs to role \"%s\"; a credential serves its owner and the roles that are members of it.",
						   cred->owner)));
}

/*
 * Refuses a credential whose kind the request cannot use: an object
 * store's (store) is signed with kind s3; one over HTTP sends the header
 * of kind http_header, bearer or basic.
 */
static void
credential_check_kind(const char *name, const char *kind, bool store)
{
	bool		s3 = strcmp(kind, "s3") == 0;

	if (s3 == store)
		return;
	if (store)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("credential \"%s\" is of kind %s, which s3:// and gs:// URLs cannot use", name, kind),
				 errhint("Object stores are signed with a credential of kind s3 (an access key id and secret; HMAC keys for gs://).")));
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("credential \"%s\" is of kind %s, which a load over HTTP cannot use", name, kind),
			 errhint("Loads over HTTP use credentials of kind http_header, bearer or basic; s3 credentials sign s3:// and gs:// URLs.")));
}

/*
 * The keys of the current user's s3 credential name, and its region and
 * endpoint settings (NULL when not set).
 */
void
elt_credential_s3(const char *name, S3Keys *keys)
{
	Credential	cred;

	credential_resolve(name, &cred);
	credential_check_kind(name, cred.kind, true);
	keys->access_key_id = credential_field(cred.settings, "access_key_id");
	keys->secret_access_key = credential_field(cred.secret, "secret_access_key");
	keys->session_token = credential_field(cred.secret, "session_token");
	keys->region = credential_field(cred.settings, "region");
	keys->endpoint = credential_field(cred.settings, "endpoint");
}

/*
 * Appends the request header that the current user's credential name
 * stands for to *headers (a new list: the caller's is left as it is).
 */
void
elt_credential_http_headers(const char *name, List **headers)
{
	Credential	cred;
	char	   *header;

	credential_resolve(name, &cred);
	credential_check_kind(name, cred.kind, false);
	if (strcmp(cred.kind, "http_header") == 0)
		header = psprintf("%s: %s", credential_field(cred.settings, "header"),
						  credential_field(cred.secret, "value"));
	else if (strcmp(cred.kind, "bearer") == 0)
		header = psprintf("Authorization: Bearer %s", credential_field(cred.secret, "token"));
	else
	{
		char	   *pair = psprintf("%s:%s", credential_field(cred.settings, "user"),
									credential_field(cred.secret, "password"));
		int			len = pg_b64_enc_len(strlen(pair));
		char	   *encoded = palloc(len + 1);
		int			n = pg_b64_encode(pair, strlen(pair), encoded, len);

		if (n < 0)
			elog(ERROR, "could not encode credential \"%s\"", name);
		encoded[n] = '\0';
		header = psprintf("Authorization: Basic %s", encoded);
	}
	*headers = lappend(list_copy(*headers), header);
}

/* The role a new credential belongs to: the caller, or a role it is a member of. */
static const char *
credential_owner_for_caller(NameData *given)
{
	const char *owner = given ? NameStr(*given) : GetUserNameFromId(GetUserId(), false);
	Oid			owner_oid = get_role_oid(owner, false);

	if (!is_member_of_role(GetUserId(), owner_oid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to make a credential of role \"%s\"", owner),
				 errdetail("A credential can be owned only by a role the current user is a member of.")));
	return owner;
}

static char *
credential_arg_name(FunctionCallInfo fcinfo, const char *function)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s needs a credential name", function)));
	elt_require_usage(function);
	return text_to_cstring(PG_GETARG_TEXT_PP(0));
}

/*
 * elt.create_credential(name text, kind text, secret jsonb, settings jsonb
 * DEFAULT '{}', owner name DEFAULT NULL)
 */
Datum
elt_create_credential(PG_FUNCTION_ARGS)
{
	char	   *name = credential_arg_name(fcinfo, "create_credential");
	const char *owner;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("credential \"%s\" needs a kind and a secret", name)));
	owner = credential_owner_for_caller(PG_ARGISNULL(4) ? NULL : PG_GETARG_NAME(4));
	elt_catalog_credential_write(owner, name, text_to_cstring(PG_GETARG_TEXT_PP(1)),
								 PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3),
								 PG_GETARG_JSONB_P(2), true);
	PG_RETURN_VOID();
}

/* elt.alter_credential(name text, secret jsonb DEFAULT NULL, settings jsonb DEFAULT NULL) */
Datum
elt_alter_credential(PG_FUNCTION_ARGS)
{
	char	   *name = credential_arg_name(fcinfo, "alter_credential");
	Credential	cred;

	credential_resolve(name, &cred);
	elt_catalog_credential_write(cred.owner, name, cred.kind,
								 PG_ARGISNULL(2) ? cred.settings : PG_GETARG_JSONB_P(2),
								 PG_ARGISNULL(1) ? cred.secret : PG_GETARG_JSONB_P(1), false);
	PG_RETURN_VOID();
}

/* elt.drop_credential(name text) */
Datum
elt_drop_credential(PG_FUNCTION_ARGS)
{
	char	   *name = credential_arg_name(fcinfo, "drop_credential");
	Credential	cred;

	credential_resolve(name, &cred);
	elt_catalog_credential_delete(cred.owner, name);
	PG_RETURN_VOID();
}

/*
 * elt._check_credential(owner name, name text): when a task is written, a
 * credential it names must be one its flow's owner may use for HTTP.  The
 * writer is a member of the owner (the flow's trigger saw to it).
 */
Datum
elt_check_credential(PG_FUNCTION_ARGS)
{
	Oid			owner = get_role_oid(NameStr(*PG_GETARG_NAME(0)), false);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Credential	cred;

	if (!elt_catalog_credential_find(name, owner, &cred) || !cred.usable)
		ereport(ERROR,
				(errcode(cred.found ? ERRCODE_INSUFFICIENT_PRIVILEGE : ERRCODE_UNDEFINED_OBJECT),
				 cred.found ? errmsg("role \"%s\" may not use credential \"%s\"",
									 NameStr(*PG_GETARG_NAME(0)), name) :
				 errmsg("credential \"%s\" does not exist for role \"%s\"", name,
						NameStr(*PG_GETARG_NAME(0))),
				 errhint("A task uses the credentials of its flow's owner: elt.create_credential makes one.")));
	{
		/* a webhook's (no url) or an extract's; a templated url is checked as it loads */
		const char *url = PG_NARGS() > 2 && !PG_ARGISNULL(2) ?
			text_to_cstring(PG_GETARG_TEXT_PP(2)) : "http:";

		if (elt_store_url(url) || pg_strncasecmp(url, "http", 4) == 0)
			credential_check_kind(name, cred.kind, elt_store_url(url));
	}
	PG_RETURN_VOID();
}
