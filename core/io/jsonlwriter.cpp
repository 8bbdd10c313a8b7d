#include "jsonlwriter.h"

#include "io/journal.h"

#include <algorithm>
#include <exception>
#include <string>

namespace Sluice {

JsonlWriter::JsonlWriter(qsizetype flushBytes)
    : m_flushBytes(flushBytes)
{
}

JsonlWriter::~JsonlWriter()
{
    close();
}

Result<void> JsonlWriter::open(const QString &path, bool append)
{
    if (m_file.isOpen())
        close();
    m_path = path;
    m_buffer.clear();
    m_records = 0;
    m_error.clear();

    m_file.setFileName(path);
    // Unbuffered: m_buffer already batches records, so QFile's own buffer would only add a copy.
    QIODevice::OpenMode mode = QIODevice::WriteOnly | QIODevice::Unbuffered;
    mode |= append ? QIODevice::Append : QIODevice::Truncate;
    if (!m_file.open(mode))
        return Error{Error::Code::Io,
                     path + QStringLiteral(": cannot open for writing: ") + m_file.errorString()};
    m_fileBytes = m_file.size();
    return {};
}

void JsonlWriter::write(const nlohmann::json &record)
{
    std::string line;
    try {
        line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } catch (const std::exception &e) {
        // dump() with `replace` does not throw for bad UTF-8; only allocation failure is left.
        if (m_error.isEmpty())
            m_error = m_path + QStringLiteral(": cannot serialize record: ") + QString::fromUtf8(e.what());
        return;
    }
    writeLine(std::move(line));
}

void JsonlWriter::writeLine(std::string line)
{
    if (!m_file.isOpen()) {
        if (m_error.isEmpty())
            m_error = m_path + QStringLiteral(": record written while the file is not open");
        return;
    }
    try {
        m_secrets.redact(line);
        m_buffer.append(line.data(), static_cast<qsizetype>(line.size()));
        m_buffer.append('\n');
        ++m_records;
    } catch (const std::exception &e) {
        if (m_error.isEmpty())
            m_error = m_path + QStringLiteral(": cannot write record: ") + QString::fromUtf8(e.what());
        return;
    }
    if (m_buffer.size() > m_flushBytes) {
        const Result<void> flushed = writeBuffer();
        if (!flushed && m_error.isEmpty())
            m_error = flushed.error().message;
    }
}

Result<void> JsonlWriter::flush()
{
    Result<void> result = writeBuffer();
    if (!m_error.isEmpty()) {
        // A failure inside write() (an automatic flush, or writing while closed) is reported once.
        result = Error{Error::Code::Io, m_error};
        m_error.clear();
    }
    return result;
}

Result<void> JsonlWriter::sync()
{
    Result<void> result = flush();
    if (!result)
        return result;
    return syncFile(m_file);
}

Result<void> JsonlWriter::writeBuffer()
{
    if (m_buffer.isEmpty())
        return {};
    if (!m_file.isOpen()) {
        m_buffer.clear();
        return Error{Error::Code::Io, m_path + QStringLiteral(": cannot write: the file is not open")};
    }
    const qsizetype pending = m_buffer.size();
    const qint64 written = m_file.write(m_buffer);
    // The buffer is dropped even on failure so that a full disk cannot make memory grow without bound;
    // the caller learns about the loss from the error.
    m_buffer.clear();
    m_fileBytes += std::max<qint64>(0, written);
    if (written != pending || !m_file.flush())
        return Error{Error::Code::Io, m_path + QStringLiteral(": write failed: ") + m_file.errorString()};
    return {};
}

Result<void> JsonlWriter::close()
{
    Result<void> result = flush();
    if (m_file.isOpen()) {
        m_file.unsetError();
        m_file.close();
        if (result && m_file.error() != QFileDevice::NoError)
            result =
                Error{Error::Code::Io, m_path + QStringLiteral(": close failed: ") + m_file.errorString()};
    }
    return result;
}

} // namespace Sluice
