// libFuzzer target for JsonlReader: the fuzz input (after two configuration bytes) is written to a file
// and read back through a small buffer, so lines, CRLFs and the BOM fall across buffer boundaries. What
// the reader returns is compared, item by item, with a plain in-memory model: split on '\n', drop one
// trailing '\r', skip blank lines, over-long lines are errors, every other line goes to JsonlParser,
// later repeats of an id are duplicates.

#include "io/jsonlreader.h"

#include <QDir>
#include <QFile>
#include <QHash>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

using namespace Sluice;
using json = nlohmann::json;
using Kind = JsonlReader::Item::Kind;

namespace {

[[noreturn]] void broken(const char *what, const QString &detail)
{
    std::fprintf(stderr, "fuzz_jsonlreader: contract broken: %s: %s\n", what,
                 detail.left(300).toUtf8().constData());
    std::abort();
}

void check(bool ok, const char *what, const QString &detail = QString())
{
    if (!ok)
        broken(what, detail);
}

/// One file per fuzzing process, rewritten for every input.
const QString &scratchPath()
{
    static const QString path = [] {
        QByteArray pattern = QDir::tempPath().toLocal8Bit() + "/fuzz-jsonlreader-XXXXXX";
        const int fd = ::mkstemp(pattern.data());
        if (fd < 0)
            broken("mkstemp", QString::fromLocal8Bit(pattern));
        ::close(fd);
        const QString name = QString::fromLocal8Bit(pattern);
        static QByteArray toRemove = pattern;
        std::atexit([] { ::unlink(toRemove.constData()); });
        return name;
    }();
    return path;
}

bool isBlank(QByteArrayView line)
{
    for (const char c : line) {
        if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v')
            return false;
    }
    return true;
}

QString dumped(const json &value)
{
    try {
        return QString::fromStdString(value.dump());
    } catch (const std::exception &e) {
        broken("a value the reader returns serialises", QString::fromUtf8(e.what()));
    }
}

/// What the model expects for one reported line.
struct Expected
{
    Kind kind = Kind::End;
    qint64 line = 0;
    QString customId;
    ErrorClass cls = ErrorClass::None;
    QString message; ///< for errors
    QString input;   ///< dumped JSON
};

QList<Expected> model(QByteArrayView content, const JsonlReader::Options &options, const QString &fileName)
{
    QList<Expected> out;
    if (content.startsWith("\xEF\xBB\xBF"))
        content = content.sliced(3);
    QHash<QString, qint64> seen;
    qint64 number = 0;
    while (!content.isEmpty()) {
        const qsizetype newline = content.indexOf('\n');
        QByteArrayView line = newline < 0 ? content : content.first(newline);
        content = newline < 0 ? QByteArrayView() : content.sliced(newline + 1);
        ++number;
        if (line.endsWith('\r'))
            line.chop(1);
        const QString prefix = fileName + QLatin1Char(':') + QString::number(number) + QStringLiteral(": ");
        Expected e;
        e.line = number;
        if (line.size() > options.maxLineBytes) {
            e.kind = Kind::Invalid;
            e.customId = QStringLiteral("line-") + QString::number(number);
            e.cls = ErrorClass::InvalidInput;
            e.message = prefix + QStringLiteral("line is %1 bytes, over the limit of %2 bytes")
                                     .arg(line.size())
                                     .arg(options.maxLineBytes);
            out.append(e);
            continue;
        }
        if (isBlank(line))
            continue;
        const auto parsed = JsonlParser::parse(line, number, fileName, options.maxDepth);
        if (const auto *error = std::get_if<InputError>(&parsed)) {
            e.kind = Kind::Invalid;
            e.customId = error->customId;
            e.cls = error->cls;
            e.message = error->message;
            e.input = dumped(error->input);
        } else {
            const Request &request = std::get<Request>(parsed);
            e.customId = request.customId;
            e.input = dumped(request.input);
            if (const auto first = seen.constFind(request.customId); first != seen.constEnd()) {
                e.kind = Kind::Invalid;
                e.cls = ErrorClass::DuplicateId;
            } else {
                e.kind = Kind::Request;
                seen.insert(request.customId, number);
            }
        }
        out.append(e);
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size < 2)
        return 0;
    // Byte 0: buffer size and line limit; byte 1: format check on or off.
    static constexpr qint64 Limits[] = {1, 16, 64, 100, 256, 1000, 4096, 8 * 1024 * 1024};
    JsonlReader::Options options;
    options.chunkBytes = JsonlReader::MinChunkBytes + (data[0] & 0x1F);
    options.maxLineBytes = Limits[data[0] >> 5];
    options.checkFormat = (data[1] & 1) != 0;
    const QByteArrayView content(reinterpret_cast<const char *>(data + 2), qsizetype(size - 2));

    const QString &path = scratchPath();
    {
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
            file.write(content.data(), content.size()) != content.size())
            broken("cannot write the scratch file", path);
    }
    const QString fileName = path.section(QLatin1Char('/'), -1);
    const QList<Expected> expected = model(content, options, fileName);

    JsonlReader reader(path, options);
    const Result<void> opened = reader.open();
    if (!opened) {
        check(options.checkFormat, "open() fails only on the format check", opened.error().message);
        check(opened.error().message.startsWith(path + QStringLiteral(": does not look like JSONL: ")),
              "format message", opened.error().message);
        check(int(reader.next().kind) == int(Kind::End), "a refused file reads as empty");
        if (content.startsWith("\xFF\xFE") || content.startsWith("\xFE\xFF")) {
            check(opened.error().message.contains(QLatin1String("UTF-16")), "UTF-16 named");
            return 0;
        }
        // Refused only when the first non-blank line (the inputs fit in the look-ahead window) is
        // neither a request nor a JSON object of the wrong shape, nor over-long.
        check(!expected.isEmpty(), "an empty or blank file is not refused");
        const Expected &first = expected.first();
        check(first.kind == Kind::Invalid && first.cls == ErrorClass::InvalidInput &&
                  !first.message.contains(QLatin1String(" bytes, over the limit of ")) &&
                  !first.input.startsWith(QLatin1Char('{')),
              "a file that starts with a JSON object is not refused", opened.error().message);
        check(opened.error().line == first.line, "format error names the first line");
        return 0;
    }
    check(reader.fileSize() == content.size(), "file size");

    qint64 lastLine = 0;
    for (qsizetype i = 0;; ++i) {
        const JsonlReader::Item item = reader.next();
        if (item.kind == Kind::End) {
            check(i == expected.size(), "as many items as the model", QString::number(i));
            break;
        }
        check(i < expected.size(), "no more items than the model");
        const Expected &e = expected.at(i);
        check(item.kind == e.kind, "item kind", QString::number(e.line));
        if (item.kind == Kind::Request) {
            check(item.request.line == e.line, "request line", QString::number(item.request.line));
            check(item.request.customId == e.customId, "request id", item.request.customId);
            check(dumped(item.request.input) == e.input, "request input");
            check(reader.lineNumber() == e.line, "lineNumber() follows");
        } else {
            check(item.error.line == e.line, "error line", QString::number(item.error.line));
            check(item.error.customId == e.customId, "error id", item.error.customId);
            check(item.error.cls == e.cls, "error class", item.error.message);
            if (e.cls != ErrorClass::DuplicateId)
                check(item.error.message == e.message, "error message", item.error.message);
            if (!e.input.isEmpty())
                check(dumped(item.error.input) == e.input, "error input");
            else
                dumped(item.error.input);
        }
        check(e.line > lastLine, "lines increase");
        lastLine = e.line;
    }
    check(reader.atEnd(), "at end");
    check(reader.bytesRead() == reader.fileSize(), "every byte read");
    check(reader.readError().isEmpty(), "no read error", reader.readError());
    check(int(reader.next().kind) == int(Kind::End), "End is sticky");
    return 0;
}
