#include "jsonlreader.h"

#include <QFileInfo>

#include <algorithm>
#include <cstring>

namespace Sluice {

namespace {

// How much of an over-long line is kept for the error record.
constexpr qsizetype KeptPrefixBytes = 4096;
constexpr QByteArrayView Utf8Bom("\xEF\xBB\xBF");

bool isBlankChar(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

bool isBlank(QByteArrayView line)
{
    return std::all_of(line.cbegin(), line.cend(), isBlankChar);
}

/// The kept start of an over-long line as a JSON string, with a note giving the full size.
nlohmann::json overlongInput(const QByteArray &prefix, qint64 length)
{
    qsizetype cut = prefix.size();
    // Drop a multi-byte character split by the cut rather than show it as U+FFFD.
    for (qsizetype k = 0; k < 3 && cut > 0; ++k) {
        const auto b = static_cast<unsigned char>(prefix.at(cut - 1 - k));
        if ((b & 0xC0) != 0x80) {
            const qsizetype need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            if (need > k + 1)
                cut -= k + 1;
            break;
        }
    }
    const QString text = QString::fromUtf8(prefix.first(cut)) + QStringLiteral("…[truncated, ") +
                         QString::number(length) + QStringLiteral(" bytes]");
    return text.toStdString();
}

} // namespace

JsonlReader::JsonlReader(QString path)
    : JsonlReader(std::move(path), Options())
{
}

JsonlReader::JsonlReader(QString path, Options options)
    : m_path(std::move(path))
    , m_fileName(QFileInfo(m_path).fileName())
    , m_options(options)
    , m_chunkBytes(std::max(MinChunkBytes, options.chunkBytes))
{
    if (m_fileName.isEmpty())
        m_fileName = m_path;
}

JsonlReader::~JsonlReader() = default;

Result<void> JsonlReader::open()
{
    m_file.reset();
    m_buffer.clear();
    m_bufferPos = 0;
    m_fileSize = 0;
    m_bytesRead = 0;
    m_lineNumber = 0;
    m_atEnd = false;
    m_readError.clear();
    m_seenIds = IdSet();

    const auto fail = [this](const QString &reason) {
        m_atEnd = true;
        return Error{Error::Code::Io, m_path + QStringLiteral(": cannot open: ") + reason};
    };
    const QFileInfo info(m_path);
    if (info.isDir())
        return fail(QStringLiteral("is a directory"));
    auto file = std::make_unique<QFile>(m_path);
    if (!file->open(QIODevice::ReadOnly))
        return fail(file->errorString());
    if (file->isSequential())
        return fail(QStringLiteral("not a regular file"));
    m_fileSize = file->size();
    m_file = std::move(file);
    if (m_options.checkFormat) {
        if (auto checked = checkFormat(); !checked) {
            m_file.reset();
            m_atEnd = true;
            return checked;
        }
    }
    m_buffer.reserve(m_chunkBytes);

    // A UTF-8 BOM at the start of the file is not part of the first line.
    if (fillBuffer() && m_buffer.startsWith(Utf8Bom)) {
        m_bufferPos = 3;
        m_bytesRead = 3;
    }
    return {};
}

Result<void> JsonlReader::checkFormat()
{
    const QByteArray head = m_file->read(std::min<qint64>(SniffBytes, m_fileSize));
    if (!m_file->seek(0))
        return Error{Error::Code::Io, m_path + QStringLiteral(": cannot read: ") + m_file->errorString()};
    const auto refuse = [this](qint64 line, const QString &reason) {
        return Error{Error::Code::InvalidInput,
                     m_path + QStringLiteral(": does not look like JSONL: ") + reason, line};
    };
    if (head.startsWith("\xFF\xFE") || head.startsWith("\xFE\xFF")) {
        return refuse(1, QStringLiteral("it is UTF-16 text (it starts with a UTF-16 byte-order mark); Sluice "
                                        "reads UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8"));
    }
    const bool whole = head.size() >= m_fileSize;

    QByteArrayView rest(head);
    if (rest.startsWith(Utf8Bom))
        rest = rest.sliced(Utf8Bom.size());
    int looked = 0;
    qint64 number = 0;
    qint64 firstNumber = 0;
    QString firstReason;
    QByteArrayView firstLine;
    while (looked < SniffLines && !rest.isEmpty()) {
        const qsizetype newline = rest.indexOf('\n');
        if (newline < 0 && !whole)
            break; // a line cut by the end of the window
        QByteArrayView line = newline < 0 ? rest : rest.first(newline);
        rest = newline < 0 ? QByteArrayView() : rest.sliced(newline + 1);
        ++number;
        if (line.endsWith('\r'))
            line.chop(1);
        if (isBlank(line))
            continue;
        if (line.size() > m_options.maxLineBytes)
            return {}; // reported as over-long when read; says nothing about the format
        ++looked;
        // A line that is, or looks like, one JSON object makes this a JSONL file, however broken the
        // line itself: from here on, bad lines are reported one by one.
        const QByteArrayView trimmed = line.trimmed();
        if (trimmed.size() >= 2 && trimmed.startsWith('{') && trimmed.endsWith('}'))
            return {};
        const auto parsed = JsonlParser::parse(line, number, m_fileName, m_options.maxDepth);
        const auto *error = std::get_if<InputError>(&parsed);
        if (!error || error->input.is_object())
            return {};
        if (looked == 1) {
            firstNumber = number;
            firstLine = trimmed;
            const qsizetype prefix = m_fileName.size() + QString::number(number).size() + 3; // "f:N: "
            firstReason = error->message.mid(prefix);
        }
    }

    if (looked == 0) {
        // Empty, blank, or a first line longer than the window: nothing to judge, unless it is binary.
        if (!whole && head.contains('\0')) {
            return refuse(1, QStringLiteral("its first %1 KiB hold binary data (NUL bytes) and no line break")
                                 .arg(SniffBytes / 1024));
        }
        return {};
    }
    QString reason =
        looked == 1 ? QStringLiteral("line %1 is not a JSON object (%2)").arg(firstNumber).arg(firstReason)
                    : QStringLiteral("none of its first %1 non-blank lines is a JSON object (line %2: %3)")
                          .arg(looked)
                          .arg(firstNumber)
                          .arg(firstReason);
    if (head.contains('\0')) {
        reason += QStringLiteral("; it holds NUL bytes: a binary file, or UTF-16 text?");
    } else if (firstLine == "{" || firstLine == "[") {
        reason += QStringLiteral("; a pretty-printed JSON document? JSONL needs each request on a line of "
                                 "its own (jq -c '.[]' turns a JSON array into JSONL)");
    } else if (firstLine.contains(',') && !firstLine.startsWith('[') && !firstLine.startsWith('"')) {
        reason += QStringLiteral("; a CSV file? Each line must be one JSON object");
    }
    return refuse(firstNumber, reason);
}

bool JsonlReader::fillBuffer()
{
    m_buffer.resize(m_chunkBytes);
    m_bufferPos = 0;
    const qint64 n = m_file->read(m_buffer.data(), m_chunkBytes);
    if (n < 0) {
        m_buffer.resize(0);
        m_readError = m_path + QStringLiteral(": read error: ") + m_file->errorString();
        return false;
    }
    m_buffer.resize(static_cast<qsizetype>(n));
    return n > 0;
}

bool JsonlReader::readLine(QByteArray &out, bool &tooLong, qint64 &length)
{
    out.clear();
    tooLong = false;
    length = 0;
    bool sawAny = false;
    char last = 0;
    // The over-long decision allows one extra byte for a '\r' that a CRLF line ends with.
    const qint64 hardLimit = m_options.maxLineBytes + 1;

    const auto take = [&](const char *data, qsizetype n) {
        if (n == 0)
            return;
        last = data[n - 1];
        length += n;
        if (!tooLong && length > hardLimit) {
            tooLong = true;
            out.truncate(std::min(out.size(), KeptPrefixBytes));
        }
        if (!tooLong)
            out.append(data, n);
        else if (out.size() < KeptPrefixBytes)
            out.append(data, std::min(n, KeptPrefixBytes - out.size()));
    };

    for (;;) {
        if (m_bufferPos >= m_buffer.size() && !fillBuffer()) {
            if (!sawAny || !m_readError.isEmpty())
                return false;
            break; // a last line without a newline
        }
        sawAny = true;
        const qsizetype newline = m_buffer.indexOf('\n', m_bufferPos);
        if (newline >= 0) {
            take(m_buffer.constData() + m_bufferPos, newline - m_bufferPos);
            m_bytesRead += newline - m_bufferPos + 1;
            m_bufferPos = newline + 1;
            break;
        }
        const qsizetype n = m_buffer.size() - m_bufferPos;
        take(m_buffer.constData() + m_bufferPos, n);
        m_bytesRead += n;
        m_bufferPos = m_buffer.size();
    }

    if (last == '\r') {
        --length;
        if (!tooLong)
            out.chop(1);
    }
    if (!tooLong && length > m_options.maxLineBytes) {
        tooLong = true;
        out.truncate(std::min(out.size(), KeptPrefixBytes));
    }
    return true;
}

bool JsonlReader::forEachLineLeft(const std::function<void(qint64 line)> &line) const
{
    if (m_atEnd || m_path.isEmpty()) {
        return true;
    }
    QFile file(m_path);
    if (!file.open(QIODevice::ReadOnly) || !file.seek(m_bytesRead)) {
        return false;
    }
    // The same lines as next(): '\n' ends a line, and a line of blanks only is skipped.
    qint64 number = m_lineNumber;
    bool content = false;
    QByteArray chunk(1 << 20, Qt::Uninitialized);
    for (;;) {
        const qint64 n = file.read(chunk.data(), chunk.size());
        if (n < 0) {
            return false;
        }
        if (n == 0) {
            break;
        }
        // memchr to each '\n'; a line's first non-blank byte settles it (JSON lines: the first one).
        const char *p = chunk.constData();
        const char *const end = p + n;
        while (p < end) {
            const auto *newline = static_cast<const char *>(std::memchr(p, '\n', std::size_t(end - p)));
            const char *const stop = newline ? newline : end;
            content = content || std::any_of(p, stop, [](char c) { return !isBlankChar(c); });
            if (!newline) {
                break;
            }
            ++number;
            if (content) {
                line(number);
            }
            content = false;
            p = newline + 1;
        }
    }
    if (content) {
        line(number + 1);
    }
    return true;
}

JsonlReader::Item JsonlReader::next()
{
    Item item;
    if (m_atEnd || !m_file)
        return item;

    QByteArray line;
    bool tooLong = false;
    qint64 length = 0;
    for (;;) {
        if (!readLine(line, tooLong, length)) {
            m_atEnd = true;
            m_file->close();
            return item;
        }
        ++m_lineNumber;
        if (tooLong || !isBlank(line))
            break;
    }

    if (tooLong) {
        item.kind = Item::Kind::Invalid;
        item.error.line = m_lineNumber;
        item.error.customId = QStringLiteral("line-") + QString::number(m_lineNumber);
        item.error.cls = ErrorClass::InvalidInput;
        item.error.message = m_fileName + QLatin1Char(':') + QString::number(m_lineNumber) +
                             QStringLiteral(": line is ") + QString::number(length) +
                             QStringLiteral(" bytes, over the limit of ") +
                             QString::number(m_options.maxLineBytes) + QStringLiteral(" bytes");
        item.error.input = overlongInput(line, length);
        return item;
    }

    auto parsed = JsonlParser::parse(line, m_lineNumber, m_fileName, m_options.maxDepth);
    if (auto *error = std::get_if<InputError>(&parsed)) {
        item.kind = Item::Kind::Invalid;
        item.error = std::move(*error);
        return item;
    }

    Request &request = std::get<Request>(parsed);
    if (const qint64 firstLine = m_seenIds.insert(request.customId, m_lineNumber); firstLine != 0) {
        item.kind = Item::Kind::Invalid;
        item.error.line = m_lineNumber;
        item.error.customId = request.customId;
        item.error.cls = ErrorClass::DuplicateId;
        item.error.message =
            m_fileName + QLatin1Char(':') + QString::number(m_lineNumber) +
            QStringLiteral(": duplicate custom_id \"") + JsonlParser::printable(request.customId) +
            QStringLiteral("\" (first seen on line ") + QString::number(firstLine) + QLatin1Char(')');
        item.error.input = std::move(request.input);
        return item;
    }
    item.kind = Item::Kind::Request;
    item.request = std::move(request);
    return item;
}

} // namespace Sluice
