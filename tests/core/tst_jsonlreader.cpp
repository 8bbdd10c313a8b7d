#include "io/jsonlreader.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace Sluice;
using Kind = JsonlReader::Item::Kind;

namespace {

/// What the reader returned for one line, flattened for comparison.
struct Seen
{
    Kind kind;
    qint64 line;
    QString customId;
    ErrorClass cls = ErrorClass::None;
    QString message;
};

} // namespace

class tst_JsonlReader : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void readsLines_data();
    void readsLines();
    void duplicateIds();
    void overlongLineSkipped_data();
    void overlongLineSkipped();
    void lineAtExactLimit();
    void openFails_data();
    void openFails();
    void emptyFile();
    void endIsSticky();
    void linesLeftAreCountedExactly();
    void manyLines();
    void smallBuffers();
    void duplicateIdShownSafely();
    void notJsonl_data();
    void notJsonl();
    void formatCheckOff();

private:
    QString writeFile(const QString &name, const QByteArray &content);
    static QList<Seen> readAll(JsonlReader &reader);

    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_JsonlReader::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

QString tst_JsonlReader::writeFile(const QString &name, const QByteArray &content)
{
    const QString path = m_dir->filePath(name);
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(content) != content.size())
        qFatal("cannot write the test file %s", qPrintable(path));
    return path;
}

QList<Seen> tst_JsonlReader::readAll(JsonlReader &reader)
{
    QList<Seen> seen;
    for (;;) {
        JsonlReader::Item item = reader.next();
        if (item.kind == Kind::End)
            break;
        if (item.kind == Kind::Request) {
            seen.append({item.kind, item.request.line, item.request.customId, ErrorClass::None, QString()});
            // The reader's line number follows what it returns.
            if (reader.lineNumber() != item.request.line)
                qWarning("lineNumber() %lld != %lld", reader.lineNumber(), item.request.line);
        } else {
            seen.append(
                {item.kind, item.error.line, item.error.customId, item.error.cls, item.error.message});
        }
    }
    return seen;
}

void tst_JsonlReader::readsLines_data()
{
    QTest::addColumn<QByteArray>("content");
    // One entry per reported line: "R <line> <id>" for requests, "E <line> <id> <message after file:line: >".
    QTest::addColumn<QStringList>("expected");

    const QByteArray a = R"({"custom_id":"a","input":"x"})";
    const QByteArray b = R"({"custom_id":"b","messages":[{"role":"user","content":"y"}]})";
    const QByteArray noId = R"({"input":"z"})";

    QTest::newRow("mixed valid and invalid")
        << QByteArray(a + "\n{broken\n" + b + "\n[1]\n" + noId + "\n{\"custom_id\":5,\"input\":\"q\"}\n")
        << QStringList{QStringLiteral("R 1 a"),
                       QStringLiteral("E 2 line-2 invalid JSON: syntax error at column 2 (not a JSON value)"),
                       QStringLiteral("R 3 b"),
                       QStringLiteral("E 4 line-4 line is a JSON array, expected an object"),
                       QStringLiteral("R 5 line-5"),
                       QStringLiteral("E 6 line-6 custom_id must be a string, got a number")};
    QTest::newRow("blank lines skipped but counted")
        << QByteArray("\n" + a + "\n\n   \n\t\r\n" + noId + "\n\n")
        << QStringList{QStringLiteral("R 2 a"), QStringLiteral("R 6 line-6")};
    QTest::newRow("BOM") << QByteArray("\xEF\xBB\xBF" + a + "\n" + b + "\n")
                         << QStringList{QStringLiteral("R 1 a"), QStringLiteral("R 2 b")};
    QTest::newRow("BOM then blank line")
        << QByteArray("\xEF\xBB\xBF\n" + a) << QStringList{QStringLiteral("R 2 a")};
    QTest::newRow("CRLF") << QByteArray(a + "\r\n" + b + "\r\n\r\n" + noId + "\r\n")
                          << QStringList{QStringLiteral("R 1 a"), QStringLiteral("R 2 b"),
                                         QStringLiteral("R 4 line-4")};
    QTest::newRow("last line without newline")
        << QByteArray(a + "\n" + b) << QStringList{QStringLiteral("R 1 a"), QStringLiteral("R 2 b")};
    QTest::newRow("last line without newline, CRLF file")
        << QByteArray(a + "\r\n" + b + "\r") << QStringList{QStringLiteral("R 1 a"), QStringLiteral("R 2 b")};
    QTest::newRow("invalid last line without newline")
        << QByteArray(a + "\n{\"input\":")
        << QStringList{
               QStringLiteral("R 1 a"),
               QStringLiteral("E 2 line-2 invalid JSON: unexpected end of line at column 10 (truncated "
                              "JSON?)")};
    QTest::newRow("only blank lines") << QByteArray("\n\n  \r\n") << QStringList();
}

void tst_JsonlReader::readsLines()
{
    QFETCH(QByteArray, content);
    QFETCH(QStringList, expected);

    const QString path = writeFile(QStringLiteral("in.jsonl"), content);
    JsonlReader reader(path);
    const Result<void> opened = reader.open();
    QVERIFY2(opened.ok(), qPrintable(opened ? QString() : opened.error().message));
    QCOMPARE(reader.fileSize(), qint64(content.size()));

    QStringList got;
    for (const Seen &seen : readAll(reader)) {
        if (seen.kind == Kind::Request) {
            got << QStringLiteral("R %1 %2").arg(seen.line).arg(seen.customId);
        } else {
            QCOMPARE(toString(seen.cls), toString(ErrorClass::InvalidInput));
            const QString prefix = QStringLiteral("in.jsonl:%1: ").arg(seen.line);
            QVERIFY2(seen.message.startsWith(prefix), qPrintable(seen.message));
            got << QStringLiteral("E %1 %2 %3")
                       .arg(seen.line)
                       .arg(seen.customId, seen.message.mid(prefix.size()));
        }
    }
    QCOMPARE(got, expected);
    QVERIFY(reader.atEnd());
    QCOMPARE(reader.bytesRead(), reader.fileSize());
    QVERIFY(reader.readError().isEmpty());
}

void tst_JsonlReader::duplicateIds()
{
    const QByteArray content = R"({"custom_id":"line-3","input":"explicit"})"
                               "\n"
                               R"({"custom_id":"x","input":"first x"})"
                               "\n"
                               R"({"input":"no id, so line-3"})"
                               "\n"
                               R"({"custom_id":"x","input":"second x"})"
                               "\n"
                               R"({"custom_id":"y","input":)" // invalid: does not register y
                               "\n"
                               R"({"custom_id":"y","input":"y is new"})"
                               "\n"
                               R"({"custom_id":"x","input":"third x"})"
                               "\n";
    const QString path = writeFile(QStringLiteral("dups.jsonl"), content);
    JsonlReader reader(path);
    QVERIFY(reader.open().ok());

    JsonlReader::Item item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Request));
    QCOMPARE(item.request.customId, QStringLiteral("line-3"));

    item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Request));
    QCOMPARE(item.request.customId, QStringLiteral("x"));

    item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Invalid));
    QCOMPARE(toString(item.error.cls), toString(ErrorClass::DuplicateId));
    QCOMPARE(item.error.line, qint64(3));
    QCOMPARE(item.error.customId, QStringLiteral("line-3"));
    QCOMPARE(item.error.message,
             QStringLiteral("dups.jsonl:3: duplicate custom_id \"line-3\" (first seen on line 1)"));
    QCOMPARE(QString::fromStdString(item.error.input.at("input").get<std::string>()),
             QStringLiteral("no id, so line-3"));

    item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Invalid));
    QCOMPARE(toString(item.error.cls), toString(ErrorClass::DuplicateId));
    QCOMPARE(item.error.customId, QStringLiteral("x"));
    QCOMPARE(item.error.message,
             QStringLiteral("dups.jsonl:4: duplicate custom_id \"x\" (first seen on line 2)"));

    item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Invalid));
    QCOMPARE(toString(item.error.cls), toString(ErrorClass::InvalidInput));
    QCOMPARE(item.error.line, qint64(5));

    item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Request));
    QCOMPARE(item.request.customId, QStringLiteral("y"));
    QCOMPARE(item.request.line, qint64(6));

    item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Invalid));
    QCOMPARE(toString(item.error.cls), toString(ErrorClass::DuplicateId));
    // Still the first line, not the later duplicate.
    QCOMPARE(item.error.message,
             QStringLiteral("dups.jsonl:7: duplicate custom_id \"x\" (first seen on line 2)"));

    QCOMPARE(int(reader.next().kind), int(Kind::End));
}

void tst_JsonlReader::overlongLineSkipped_data()
{
    QTest::addColumn<qint64>("hugeBytes");
    QTest::addColumn<qint64>("maxLineBytes");
    QTest::addColumn<QByteArray>("ending");

    QTest::newRow("20 MB line, 1 MiB limit")
        << qint64(20 * 1000 * 1000) << qint64(1024 * 1024) << QByteArray("\n");
    QTest::newRow("CRLF") << qint64(3 * 1000 * 1000) << qint64(1024 * 1024) << QByteArray("\r\n");
    QTest::newRow("limit smaller than the kept prefix") << qint64(5000) << qint64(100) << QByteArray("\n");
}

void tst_JsonlReader::overlongLineSkipped()
{
    QFETCH(qint64, hugeBytes);
    QFETCH(qint64, maxLineBytes);
    QFETCH(QByteArray, ending);

    // A valid JSON line (so only its size is wrong), then a normal line.
    QByteArray huge = R"({"custom_id":"huge","input":")";
    const qsizetype filler = hugeBytes - huge.size() - 2;
    huge += QByteArray(filler, 'h');
    huge += "\"}";
    QCOMPARE(qint64(huge.size()), hugeBytes);
    const QByteArray content = R"({"custom_id":"before","input":"b"})" + ending + huge + ending +
                               R"({"custom_id":"after","input":"a"})" + ending;
    const QString path = writeFile(QStringLiteral("big.jsonl"), content);

    JsonlReader reader(path, JsonlReader::Options{maxLineBytes, JsonlParser::DefaultMaxDepth});
    QVERIFY(reader.open().ok());

    JsonlReader::Item item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Request));
    QCOMPARE(item.request.customId, QStringLiteral("before"));

    item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Invalid));
    QCOMPARE(toString(item.error.cls), toString(ErrorClass::InvalidInput));
    QCOMPARE(item.error.line, qint64(2));
    QCOMPARE(item.error.customId, QStringLiteral("line-2"));
    QCOMPARE(item.error.message, QStringLiteral("big.jsonl:2: line is %1 bytes, over the limit of %2 bytes")
                                     .arg(hugeBytes)
                                     .arg(maxLineBytes));
    QVERIFY(item.error.input.is_string());
    const QString kept = QString::fromStdString(item.error.input.get<std::string>());
    const QString note = QStringLiteral("…[truncated, %1 bytes]").arg(hugeBytes);
    QVERIFY2(kept.endsWith(note), qPrintable(kept.right(60)));
    QCOMPARE(kept.chopped(note.size()), QString::fromLatin1(huge.first(4096)));

    item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Request));
    QCOMPARE(item.request.customId, QStringLiteral("after"));
    QCOMPARE(item.request.line, qint64(3));

    QCOMPARE(int(reader.next().kind), int(Kind::End));
    QCOMPARE(reader.bytesRead(), qint64(content.size()));
}

void tst_JsonlReader::lineAtExactLimit()
{
    // A line of exactly maxLineBytes is accepted, with or without a CR after it; one byte more is not.
    const QByteArray line = R"({"input":"0123456789"})";
    const qint64 limit = line.size();
    const QByteArray content = line + "\r\n" + line.chopped(2) + "9\"}\n" + line;
    const QString path = writeFile(QStringLiteral("limit.jsonl"), content);
    JsonlReader reader(path, JsonlReader::Options{limit, JsonlParser::DefaultMaxDepth});
    QVERIFY(reader.open().ok());

    const QList<Seen> seen = readAll(reader);
    QCOMPARE(seen.size(), 3);
    QCOMPARE(int(seen.at(0).kind), int(Kind::Request));
    QCOMPARE(int(seen.at(1).kind), int(Kind::Invalid));
    QCOMPARE(seen.at(1).message, QStringLiteral("limit.jsonl:2: line is %1 bytes, over the limit of %2 bytes")
                                     .arg(limit + 1)
                                     .arg(limit));
    QCOMPARE(int(seen.at(2).kind), int(Kind::Request)); // last line, no newline
    QCOMPARE(seen.at(2).customId, QStringLiteral("line-3"));
}

void tst_JsonlReader::openFails_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("reason");

    QTest::newRow("missing file") << QStringLiteral("does-not-exist.jsonl") << QString();
    QTest::newRow("directory") << QStringLiteral("subdir") << QStringLiteral("is a directory");
}

void tst_JsonlReader::openFails()
{
    QFETCH(QString, name);
    QFETCH(QString, reason);

    QVERIFY(QDir(m_dir->path()).mkdir(QStringLiteral("subdir")));
    const QString path = m_dir->filePath(name);
    JsonlReader reader(path);
    const Result<void> opened = reader.open();
    QVERIFY(!opened.ok());
    QCOMPARE(int(opened.error().code), int(Error::Code::Io));
    const QString prefix = path + QStringLiteral(": cannot open: ");
    QVERIFY2(opened.error().message.startsWith(prefix), qPrintable(opened.error().message));
    QVERIFY(opened.error().message.size() > prefix.size()); // a reason follows
    if (!reason.isEmpty())
        QCOMPARE(opened.error().message, prefix + reason);
    QCOMPARE(int(reader.next().kind), int(Kind::End));
}

void tst_JsonlReader::emptyFile()
{
    JsonlReader reader(writeFile(QStringLiteral("empty.jsonl"), QByteArray()));
    QVERIFY(reader.open().ok());
    QCOMPARE(reader.fileSize(), qint64(0));
    QCOMPARE(int(reader.next().kind), int(Kind::End));
    QVERIFY(reader.atEnd());
    QCOMPARE(reader.bytesRead(), qint64(0));
}

void tst_JsonlReader::endIsSticky()
{
    JsonlReader reader(writeFile(QStringLiteral("one.jsonl"), R"({"input":"x"})"));
    QVERIFY(reader.open().ok());
    QCOMPARE(int(reader.next().kind), int(Kind::Request));
    QVERIFY(!reader.atEnd());
    QCOMPARE(int(reader.next().kind), int(Kind::End));
    QCOMPARE(int(reader.next().kind), int(Kind::End));
    QVERIFY(reader.atEnd());
}

void tst_JsonlReader::linesLeftAreCountedExactly()
{
    // Blank lines are no lines; a bad line and an over-long one are (each gets its own record); the
    // last line may lack its '\n'. Every line was once off by one here when nothing was left.
    const QByteArray content = "\xEF\xBB\xBF{\"input\":\"a\"}\n"
                               "\n"
                               "{\"input\":\"b\"}\r\n"
                               "  \t\r\n"
                               "not json\n"
                               "{\"input\":\"" +
                               QByteArray(200, 'x') + "\"}\n{\"input\":\"c\"}";
    JsonlReader::Options options;
    options.maxLineBytes = 100;
    JsonlReader reader(writeFile(QStringLiteral("left.jsonl"), content), options);
    QVERIFY(reader.open().ok());
    const auto left = [&reader] {
        QList<qint64> lines;
        if (!reader.forEachLineLeft([&lines](qint64 line) { lines.append(line); }))
            lines.append(-1);
        return lines;
    };
    QCOMPARE(left(), (QList<qint64>{1, 3, 5, 6, 7}));
    QList<qint64> returned;
    for (JsonlReader::Item item = reader.next(); item.kind != Kind::End; item = reader.next()) {
        returned.append(item.kind == Kind::Request ? item.request.line : item.error.line);
        QList<qint64> expected{1, 3, 5, 6, 7};
        expected.erase(expected.begin(), expected.begin() + returned.size());
        QCOMPARE(left(), expected);
    }
    QCOMPARE(returned, (QList<qint64>{1, 3, 5, 6, 7}));
    QVERIFY(reader.atEnd());
    QCOMPARE(left(), QList<qint64>{});

    // Lines across the 1 MiB chunks the count reads: a blank one, then one whose content starts in the
    // next chunk.
    const QByteArray wide = "{\"input\":\"a\"}\n" + QByteArray(1 << 20, ' ') + "\n" +
                            QByteArray((1 << 20) - 3, ' ') + "{\"input\":\"b\"}\n";
    JsonlReader::Options roomy;
    roomy.maxLineBytes = 4 << 20;
    JsonlReader second(writeFile(QStringLiteral("wide.jsonl"), wide), roomy);
    QVERIFY(second.open().ok());
    QList<qint64> lines;
    QVERIFY(second.forEachLineLeft([&lines](qint64 line) { lines.append(line); }));
    QCOMPARE(lines, (QList<qint64>{1, 3}));
}

void tst_JsonlReader::manyLines()
{
    constexpr int Lines = 200000;
    QByteArray content;
    content.reserve(Lines * 48);
    for (int i = 1; i <= Lines; ++i) {
        // Every tenth line relies on its generated id.
        if (i % 10 == 0)
            content += R"({"input":"prompt )" + QByteArray::number(i) + "\"}\n";
        else
            content += R"({"custom_id":"id-)" + QByteArray::number(i) + R"(","input":"p"})" + "\n";
    }
    const QString path = writeFile(QStringLiteral("many.jsonl"), content);
    JsonlReader reader(path);
    QVERIFY(reader.open().ok());

    int count = 0;
    qint64 lastBytes = 0;
    for (;;) {
        const JsonlReader::Item item = reader.next();
        if (item.kind == Kind::End)
            break;
        ++count;
        if (item.kind != Kind::Request)
            QFAIL(qPrintable(item.error.message));
        const QString expected =
            count % 10 == 0 ? QStringLiteral("line-%1").arg(count) : QStringLiteral("id-%1").arg(count);
        if (item.request.customId != expected || item.request.line != count)
            QFAIL(qPrintable(QStringLiteral("line %1: got %2").arg(count).arg(item.request.customId)));
        if (reader.bytesRead() <= lastBytes)
            QFAIL("bytesRead() did not advance");
        lastBytes = reader.bytesRead();
    }
    QCOMPARE(count, Lines);
    QCOMPARE(reader.bytesRead(), reader.fileSize());
    QCOMPARE(reader.fileSize(), qint64(content.size()));
}

void tst_JsonlReader::smallBuffers()
{
    // Every feature the reader handles at a buffer boundary: the BOM, CRLF, blank lines, multi-byte
    // characters, over-long lines with and without CR, a last line without a newline.
    QByteArray content = "\xEF\xBB\xBF";
    content += R"({"custom_id":"a","input":"caf\u00e9"})"
               "\r\n\r\n  \t\n";
    content += "{\"custom_id\":\"b\",\"input\":\"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\"}\n";
    content += R"({"custom_id":"long","input":")" + QByteArray(90, 'x') + "\"}\r\n";
    content += "{broken\r\n";
    content += R"({"custom_id":"c","input":")" + QByteArray(20, 'y') + "\"}\n";
    content += R"({"custom_id":"long2","input":")" + QByteArray(300, 'z') + "\"}\n";
    content += "\r\n";
    content += R"({"custom_id":"a","input":"dup"})"
               "\n";
    content += R"({"custom_id":"last","input":"no newline"})";
    const QString path = writeFile(QStringLiteral("chunks.jsonl"), content);

    const auto flatten = [&](qsizetype chunkBytes) {
        JsonlReader::Options options;
        options.maxLineBytes = 64;
        options.chunkBytes = chunkBytes;
        JsonlReader reader(path, options);
        if (!reader.open().ok())
            return QStringList{QStringLiteral("open failed")};
        QStringList out;
        for (const Seen &seen : readAll(reader))
            out << QStringLiteral("%1 %2 %3 %4")
                       .arg(int(seen.kind))
                       .arg(seen.line)
                       .arg(seen.customId, seen.message);
        if (reader.bytesRead() != reader.fileSize())
            out << QStringLiteral("bytesRead %1 of %2").arg(reader.bytesRead()).arg(reader.fileSize());
        return out;
    };
    const QStringList reference = flatten(64 * 1024);
    // a, b, long (over-long), broken, c, long2 (over-long), a again (duplicate), last.
    QCOMPARE(reference.size(), 8);
    for (qsizetype chunk = JsonlReader::MinChunkBytes; chunk <= 128; ++chunk)
        QCOMPARE(flatten(chunk), reference);
    // Smaller than the minimum is raised to it.
    QCOMPARE(flatten(1), reference);
}

void tst_JsonlReader::duplicateIdShownSafely()
{
    const QByteArray id = "\\u001b[2J" + QByteArray(100, 'i');
    const QByteArray line = R"({"custom_id":")" + id + R"(","input":"x"})";
    JsonlReader reader(writeFile(QStringLiteral("dup.jsonl"), line + "\n" + line + "\n"));
    QVERIFY(reader.open().ok());
    QCOMPARE(int(reader.next().kind), int(Kind::Request));
    const JsonlReader::Item item = reader.next();
    QCOMPARE(int(item.kind), int(Kind::Invalid));
    QCOMPARE(item.error.message, QStringLiteral("dup.jsonl:2: duplicate custom_id \"\\u001b[2J") +
                                     QString(36, QLatin1Char('i')) +
                                     QStringLiteral("…\" (first seen on line 1)"));
    QCOMPARE(item.error.customId.size(), 104); // the record keeps the whole id
}

void tst_JsonlReader::notJsonl_data()
{
    QTest::addColumn<QByteArray>("content");
    QTest::addColumn<QString>("message"); // after "<path>: does not look like JSONL: "; empty = accepted
    QTest::addColumn<qint64>("line");

    const QByteArray ok = R"({"custom_id":"ok","input":"x"})";
    const QString pretty =
        QStringLiteral("; a pretty-printed JSON document? JSONL needs each request on a line "
                       "of its own (jq -c '.[]' turns a JSON array into JSONL)");
    QTest::newRow("pretty-printed object")
        << QByteArray("{\n  \"custom_id\": \"a\",\n  \"input\": \"x\"\n}\n")
        << QStringLiteral(
               "none of its first 4 non-blank lines is a JSON object (line 1: invalid JSON: unexpected "
               "end of line at column 2 (truncated JSON?))") +
               pretty
        << qint64(1);
    QByteArray array = "\n[\n";
    for (int i = 0; i < 1000; ++i)
        array += "  {\"custom_id\": \"r" + QByteArray::number(i) + "\", \"input\": \"x\"},\n";
    array += "]\n";
    QTest::newRow("pretty-printed array of compact objects")
        << array
        << QStringLiteral(
               "none of its first 5 non-blank lines is a JSON object (line 2: invalid JSON: unexpected "
               "end of line at column 2 (truncated JSON?))") +
               pretty
        << qint64(2);
    QTest::newRow("CSV") << QByteArray("id,prompt\r\n1,hello\r\n2,\"a, b\"\r\n")
                         << QStringLiteral(
                                "none of its first 3 non-blank lines is a JSON object (line 1: invalid "
                                "JSON: syntax error at column 1 (not a JSON value)); a CSV file? Each "
                                "line must be one JSON object")
                         << qint64(1);
    QTest::newRow("one line of text")
        << QByteArray("hello world\n")
        << QStringLiteral(
               "line 1 is not a JSON object (invalid JSON: syntax error at column 1 (not a JSON value))")
        << qint64(1);
    QTest::newRow("JSON arrays") << QByteArray("[1, 2]\n[3]\n")
                                 << QStringLiteral(
                                        "none of its first 2 non-blank lines is a JSON object (line 1: "
                                        "line is a JSON array, expected an object)")
                                 << qint64(1);
    QByteArray binary;
    for (int i = 0; i < 3000; ++i)
        binary += char((i * 7919 + 13) % 256);
    QTest::newRow("binary") << binary
                            << QStringLiteral(
                                   "none of its first 5 non-blank lines is a JSON object (line 1: invalid "
                                   "JSON: NUL byte at column 58); it holds NUL "
                                   "bytes: a binary file, or UTF-16 text?")
                            << qint64(1);
    QTest::newRow("binary without a line break")
        << QByteArray(100 * 1024, '\0')
        << QStringLiteral("its first 64 KiB hold binary data (NUL bytes) and no line break") << qint64(1);
    const QString utf16 =
        QStringLiteral("it is UTF-16 text (it starts with a UTF-16 byte-order mark); Sluice "
                       "reads UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8");
    QByteArray utf16le = "\xFF\xFE";
    for (const char c : QByteArray(ok + "\n"))
        utf16le += QByteArray(1, c) + '\0';
    QTest::newRow("UTF-16LE with BOM") << utf16le << utf16 << qint64(1);
    QByteArray utf16be = "\xFE\xFF";
    for (const char c : QByteArray(ok + "\n"))
        utf16be += QByteArray(1, '\0') + c;
    QTest::newRow("UTF-16BE with BOM") << utf16be << utf16 << qint64(1);
    QTest::newRow("UTF-16LE without BOM")
        << utf16le.mid(2)
        << QStringLiteral("none of its first 2 non-blank lines is a JSON object (line 1: invalid JSON: NUL "
                          "byte at column 2); it holds NUL bytes: a "
                          "binary file, or UTF-16 text?")
        << qint64(1);
    QTest::newRow("five bad lines, then requests")
        << QByteArray("a\nb\n\n  \nc\nd\ne\n" + ok + "\n")
        << QStringLiteral(
               "none of its first 5 non-blank lines is a JSON object (line 1: invalid JSON: syntax "
               "error at column 1 (not a JSON value))")
        << qint64(1);

    // Accepted: bad lines are then reported one by one.
    QTest::newRow("request first") << QByteArray(ok + "\nnot json\n") << QString() << qint64(0);
    QTest::newRow("four bad lines, then a request")
        << QByteArray("a\nb\n[1]\n\"s\"\n" + ok + "\n") << QString() << qint64(0);
    QTest::newRow("object of the wrong shape")
        << QByteArray("{\"foo\": 1}\nx\ny\nz\nw\n") << QString() << qint64(0);
    QTest::newRow("broken line that looks like an object")
        << QByteArray("{\"custom_id\": \"a\", }\nx\ny\nz\nw\n") << QString() << qint64(0);
    QTest::newRow("deep object line")
        << QByteArray(QByteArray(100, '{') + QByteArray(100, '}') + "\nx\n") << QString() << qint64(0);
    QTest::newRow("empty file") << QByteArray() << QString() << qint64(0);
    QTest::newRow("blank lines only") << QByteArray("\n \r\n\t\n") << QString() << qint64(0);
    QTest::newRow("BOM only") << QByteArray("\xEF\xBB\xBF") << QString() << qint64(0);
    QTest::newRow("BOM then a request") << QByteArray("\xEF\xBB\xBF" + ok) << QString() << qint64(0);
    QTest::newRow("first line over 64 KiB")
        << QByteArray("\"" + QByteArray(70 * 1024, 'x') + "\"\nnot json\n") << QString() << qint64(0);
}

void tst_JsonlReader::notJsonl()
{
    QFETCH(QByteArray, content);
    QFETCH(QString, message);
    QFETCH(qint64, line);

    const QString path = writeFile(QStringLiteral("input.jsonl"), content);
    JsonlReader reader(path);
    const Result<void> opened = reader.open();
    if (message.isEmpty()) {
        QVERIFY2(opened.ok(), qPrintable(opened ? QString() : opened.error().message));
        readAll(reader);
        QVERIFY(reader.atEnd());
        QCOMPARE(reader.bytesRead(), reader.fileSize());
        return;
    }
    QVERIFY(!opened.ok());
    QCOMPARE(int(opened.error().code), int(Error::Code::InvalidInput));
    QCOMPARE(opened.error().message, path + QStringLiteral(": does not look like JSONL: ") + message);
    QCOMPARE(opened.error().line, line);
    QVERIFY(reader.atEnd());
    QCOMPARE(int(reader.next().kind), int(Kind::End));
}

void tst_JsonlReader::formatCheckOff()
{
    JsonlReader::Options options;
    options.checkFormat = false;
    JsonlReader reader(writeFile(QStringLiteral("pretty.json"), "{\n  \"input\": \"x\"\n}\n"), options);
    QVERIFY(reader.open().ok());
    const QList<Seen> seen = readAll(reader);
    QCOMPARE(seen.size(), 3);
    for (const Seen &s : seen)
        QCOMPARE(int(s.kind), int(Kind::Invalid));
}

QTEST_GUILESS_MAIN(tst_JsonlReader)
#include "tst_jsonlreader.moc"
