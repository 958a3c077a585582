/*-------------------------------------------------------------------------
 *
 * file_source.c
 *	  The file:// end of a load: a server file read as a byte stream.
 *
 *	  libcurl's file protocol cannot pause a transfer, so through it a file
 *	  arrives whole in one call and the pull-style buffering of the HTTP
 *	  stream cannot hold it; a file is read here with plain reads instead,
 *	  as COPY FROM 'file' does.  Who may read server files is decided
 *	  before (elt_check_url_allowed).  The file descriptor belongs to the
 *	  transaction (OpenTransientFile), so an error closes it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"

#include "file_source.h"
#include "stream.h"

#define FILE_READ_MAX	(256 * 1024)

typedef struct FileStream
{
	EltStream	base;
	char	   *path;
	int			fd;				/* -1 once closed */
} FileStream;

static size_t
file_read(EltStream *stream, char *buf, size_t len)
{
	FileStream *fs = (FileStream *) stream;
	ssize_t		n;

	CHECK_FOR_INTERRUPTS();
	do
		n = read(fs->fd, buf, Min(len, FILE_READ_MAX));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", fs->path)));
	stream->received += n;
	return (size_t) n;
}

static void
file_close(EltStream *stream)
{
	FileStream *fs = (FileStream *) stream;

	if (fs->fd >= 0)
		CloseTransientFile(fs->fd);
	fs->fd = -1;
}

EltStream *
elt_file_open(const char *path, const char *display_url)
{
	FileStream *fs = palloc0(sizeof(FileStream));
	struct stat st;

	fs->base.read = file_read;
	fs->base.close = file_close;
	fs->base.display_url = display_url;
	fs->path = pstrdup(path);
	fs->fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fs->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	if (fstat(fs->fd, &st) == 0 && S_ISREG(st.st_mode))
		fs->base.size = (uint64) st.st_size;
	return &fs->base;
}
