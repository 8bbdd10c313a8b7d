#pragma once

#include "util/result.h"
#include "util/secrets.h"

#include <QByteArray>
#include <QFile>
#include <QString>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>

namespace Sluice {

/// Appends JSON records, one per line, to a file. Records are buffered and written in batches
/// (flush() once per engine tick, or when the buffer passes `flushBytes`), so a crash never leaves
/// more than one torn line at the end. Invalid UTF-8 inside strings is replaced, never thrown.
class JsonlWriter
{
public:
    explicit JsonlWriter(qsizetype flushBytes = 256 * 1024);
    ~JsonlWriter();

    /// Creates (truncate) or appends to `path`; the parent folder must exist.
    Result<void> open(const QString &path, bool append = false);
    bool isOpen() const { return m_file.isOpen(); }
    void write(const nlohmann::json &record);
    /// Writes a record already serialized: one JSON value on one line (no line terminator), valid
    /// UTF-8. Redacted like write().
    void writeLine(std::string line);
    /// Keys that must never reach the file: every occurrence in a record, for instance a key a server
    /// echoed in its error message, is written as "[REDACTED]" (see Secrets).
    void setSecrets(Secrets secrets) { m_secrets = std::move(secrets); }
    /// Writes the buffer to the file (no fsync).
    Result<void> flush();
    /// flush(), then fdatasync: the records written so far survive a power loss.
    Result<void> sync();
    Result<void> close();

    const QString &path() const { return m_path; }
    qint64 recordsWritten() const { return m_records; }
    /// Bytes in the file after the last flush (including what it held when opened for appending).
    qint64 fileBytes() const { return m_fileBytes; }

private:
    /// Writes m_buffer to the file; the buffer is emptied even on failure.
    Result<void> writeBuffer();

    QString m_path;
    QFile m_file;
    QByteArray m_buffer;
    qsizetype m_flushBytes;
    qint64 m_records = 0;
    qint64 m_fileBytes = 0;
    Secrets m_secrets;
    QString m_error; ///< a failure inside write(), reported by the next flush() or close()
};

} // namespace Sluice
