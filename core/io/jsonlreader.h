#pragma once

#include "io/idset.h"
#include "io/jsonlparser.h"
#include "util/result.h"

#include <QFile>
#include <QSet>
#include <QString>

#include <functional>
#include <memory>

namespace Sluice {

/// Streaming reader of a JSONL request file. Reads one line at a time through a fixed-size buffer, so
/// memory does not grow with the file; a line longer than `maxLineBytes` is skipped without being held
/// in memory and reported as an InputError. Blank (whitespace-only) lines are skipped silently. A UTF-8
/// BOM at the start of the file and CRLF line endings are accepted. Duplicate custom_ids (including the
/// generated "line-N" ones) are reported as DuplicateId errors on the later line.
/// Not thread-safe; use from one thread.
class JsonlReader
{
public:
    struct Options
    {
        qint64 maxLineBytes = 8 * 1024 * 1024;
        int maxDepth = JsonlParser::DefaultMaxDepth;
        /// open() refuses a file that is not JSONL at all (see open()). Off only for tests and fuzzing.
        bool checkFormat = true;
        /// Read buffer size in bytes (at least MinChunkBytes); tests and the fuzzer make it small so that
        /// lines, CRLFs and the BOM straddle buffer boundaries.
        qsizetype chunkBytes = 64 * 1024;
    };

    static constexpr qsizetype MinChunkBytes = 16;
    /// open() looks at this many non-blank lines, within the first SniffBytes of the file.
    static constexpr int SniffLines = 5;
    static constexpr qsizetype SniffBytes = 64 * 1024;

    struct Item
    {
        enum class Kind { Request, Invalid, End };
        Kind kind = Kind::End;
        Request request;  ///< valid when kind == Request
        InputError error; ///< valid when kind == Invalid
    };

    explicit JsonlReader(QString path);
    JsonlReader(QString path, Options options);
    ~JsonlReader();

    /// Opens the file; an Error (code Io) naming the file when it cannot be read.
    ///
    /// With Options::checkFormat, also an Error (code InvalidInput, `line` = first line looked at) when
    /// the file is not JSONL at all: UTF-16 text, or none of its first SniffLines non-blank lines (those
    /// complete within the first SniffBytes) is a JSON object, e.g. a pretty-printed JSON document, a
    /// CSV or a binary file. The message says why and what line 1 looks like, instead of one error
    /// record per line. As soon as one of those lines is a JSON object the file is read, and every bad
    /// line becomes its own InputError: a bad line never stops a run.
    Result<void> open();
    /// The next request or bad line, or End at end of file (End is sticky). A read error mid-file
    /// ends the stream and is available from readError().
    Item next();

    const QString &path() const { return m_path; }
    qint64 fileSize() const { return m_fileSize; }
    qint64 bytesRead() const { return m_bytesRead; }   ///< consumed so far, for progress
    qint64 lineNumber() const { return m_lineNumber; } ///< number of the last line returned
    /// Sizes duplicate detection for about `lines` lines up front (after open(); see IdSet::reserve).
    void reserveIds(qint64 lines) { m_seenIds.reserve(lines); }
    bool atEnd() const { return m_atEnd; }
    /// Calls `line` with the number of each line next() has not returned yet and would return (the
    /// non-blank ones), reading the rest of the file on its own handle: the reader's place is kept.
    /// For an exact count of the lines a stopped run left unsent. Returns false on a read error.
    bool forEachLineLeft(const std::function<void(qint64 line)> &line) const;
    const QString &readError() const { return m_readError; }

private:
    /// Next physical line (without its '\n') into `out`; false at end of file or on a read error. When
    /// the line is over maxLineBytes, `tooLong` is set and `out` keeps only its first bytes. `length` is
    /// the line's full length in bytes (a trailing '\r' excluded).
    bool readLine(QByteArray &out, bool &tooLong, qint64 &length);
    bool fillBuffer();
    /// Looks at the start of the file and refuses it when it is not JSONL at all (see open()).
    Result<void> checkFormat();

    QString m_path;
    QString m_fileName; ///< the path's last component, used in line messages
    Options m_options;
    std::unique_ptr<QFile> m_file;
    QByteArray m_buffer;
    qsizetype m_bufferPos = 0;
    qsizetype m_chunkBytes = 0;
    qint64 m_fileSize = 0;
    qint64 m_bytesRead = 0;
    qint64 m_lineNumber = 0;
    bool m_atEnd = false;
    QString m_readError;
    IdSet m_seenIds; ///< custom_id -> line it was first seen on (12 bytes an id)
};

} // namespace Sluice
