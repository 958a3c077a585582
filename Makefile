# pg_elt: build with PGXS.  `make && make install`, then `make installcheck`
# runs the pg_regress suite against the server PGHOST/PGPORT name (with the
# fixture servers it needs, test/with_fixtures.sh), and `make tapcheck` the
# TAP tests, which start clusters of their own.  test/check.sh, the README's
# test command, runs both (the first against a cluster it starts).

EXTENSION = pg_elt
# The version is pg_elt.control's default_version, and only there.
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(dir $(lastword $(MAKEFILE_LIST)))pg_elt.control)
ifeq ($(EXTVERSION),)
$(error pg_elt.control has no default_version)
endif

MODULE_big = pg_elt
OBJS = \
	src/pg_elt.o \
	src/guc.o \
	src/jsonb_util.o \
	src/states.o \
	src/http_fetch.o \
	src/http_headers.o \
	src/url_mask.o \
	src/outbound.o \
	src/file_source.o \
	src/gzip_stream.o \
	src/csv_infer.o \
	src/load_options.o \
	src/csv_load.o \
	src/copy_feed.o \
	src/load_parallel.o \
	src/csv_scan.o \
	src/load_insert.o \
	src/citus.o \
	src/templates.o \
	src/schedule_expr.o \
	src/catalog.o \
	src/credentials.o \
	src/runtime.o \
	src/launcher.o \
	src/scheduler.o \
	src/drop_guard.o \
	src/run_channel.o \
	src/run_worker.o \
	src/run_worker_main.o \
	src/run_coordinator.o \
	src/task_attempt.o \
	src/task_cache.o \
	src/tag_limits.o \
	src/run_log.o \
	src/flow_run.o \
	src/run_queue.o \
	src/body_template.o \
	src/notifier.o \
	src/worker_pool.o \
	src/object_store.o \
	src/csv_export.o

# Install and upgrade scripts live in sql/ beside the regression inputs and
# are told apart by the "pg_elt--" prefix.
DATA = $(wildcard sql/pg_elt--*.sql)

# curl-config is libcurl4-openssl-dev's, which installcheck (a package's
# autopkgtest, say) does not need.
PG_CPPFLAGS = -I$(srcdir)/src $(shell curl-config --cflags 2>/dev/null) -DPG_ELT_VERSION='"$(EXTVERSION)"'
SHLIB_LINK = $(or $(shell curl-config --libs 2>/dev/null),-lcurl) -lz

# ISA-L's igzip inflates about three times as fast as zlib: used when its
# headers are installed (Debian: libisal-dev), unless `make WITH_ISAL=0`.
WITH_ISAL ?= $(if $(wildcard /usr/include/isa-l/igzip_lib.h),1,0)
ifeq ($(WITH_ISAL),1)
PG_CPPFLAGS += -DUSE_ISAL
SHLIB_LINK += -lisal
endif
PG_CFLAGS = -Wall -Wmissing-prototypes -Werror=implicit-function-declaration

REGRESS = $(patsubst sql/%.sql,%,$(sort $(filter-out sql/pg_elt--%,$(wildcard sql/*.sql))))
# installcheck is ours (below): PGXS's, with the fixture servers around it.
NO_INSTALLCHECK = 1

# TAP tests live in test/t (PostgreSQL::Test::Cluster).
PROVE_TESTS = test/t/*.pl

EXTRA_CLEAN = tmp_check results regression.diffs regression.out log

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

installcheck:
	PATH="$(bindir):$$PATH" $(srcdir)/test/with_fixtures.sh --server $(pgxsdir)/src/test/regress/pg_regress \
		--inputdir=$(srcdir) --bindir='$(bindir)' $(pg_regress_locale_flags) \
		$(EXTRA_REGRESS_OPTS) $(REGRESS_OPTS) $(REGRESS)

tapcheck:
	$(srcdir)/test/with_fixtures.sh $(MAKE) tapcheck-run

.PHONY: tapcheck-run
tapcheck-run:
	$(prove_installcheck)

# The PGXN distribution (META.json) of the last commit, not of the work
# tree: PGXN versions have three parts.
dist:
	git archive --format zip --prefix=pg_elt-$(EXTVERSION).0/ -o pg_elt-$(EXTVERSION).0.zip HEAD

# A module is rebuilt when any header changes (they are small, and few), or
# the version.
$(OBJS): $(wildcard src/*.h) pg_elt.control
