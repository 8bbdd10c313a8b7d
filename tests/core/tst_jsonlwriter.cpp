#include "io/jsonlwriter.h"

#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <string>

using namespace Sluice;
using json = nlohmann::json;

namespace {

QByteArray readFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return QByteArray("<cannot read>");
    return file.readAll();
}

/// Compact text of a JSON value, for QCOMPARE (which cannot compare nlohmann::json directly).
QString dumped(const json &value)
{
    return QString::fromStdString(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

QList<json> parseLines(const QByteArray &content)
{
    QList<json> records;
    for (const QByteArray &line : content.split('\n')) {
        if (!line.isEmpty())
            records.append(json::parse(line.toStdString()));
    }
    return records;
}

} // namespace

class tst_JsonlWriter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void roundTrip_data();
    void roundTrip();
    void invalidUtf8Replaced();
    void appendKeepsEarlierLines();
    void secretsAreRedacted();
    void sizeAndSync();
    void truncateReplacesContent();
    void flushThreshold();
    void explicitFlush();
    void destructorFlushes();
    void openFailsInMissingFolder();
    void writeWhileClosedReported();

private:
    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_JsonlWriter::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

void tst_JsonlWriter::roundTrip_data()
{
    QTest::addColumn<QString>("record"); // JSON text

    QTest::newRow("object") << QStringLiteral(R"({"custom_id":"a","status":200,"latency_ms":12.5})");
    QTest::newRow("nested") << QStringLiteral(R"({"x":{"y":[1,2,{"z":null}]},"ok":true})");
    QTest::newRow("unicode and escapes")
        << QStringLiteral("{\"text\":\"caf\u00e9 \u2603 \\n tab\\t quote\\\" \\u0001\"}");
    QTest::newRow("big numbers") << QStringLiteral(
        R"({"u":18446744073709551615,"i":-9223372036854775808,"f":1e-300})");
    QTest::newRow("empty object") << QStringLiteral("{}");
}

void tst_JsonlWriter::roundTrip()
{
    QFETCH(QString, record);

    const json value = json::parse(record.toStdString());
    const QString path = m_dir->filePath(QStringLiteral("out.jsonl"));
    JsonlWriter writer;
    QVERIFY(writer.open(path).ok());
    QVERIFY(writer.isOpen());
    QCOMPARE(writer.path(), path);
    writer.write(value);
    writer.write(json{{"second", 2}});
    QCOMPARE(writer.recordsWritten(), qint64(2));
    QVERIFY(writer.close().ok());
    QVERIFY(!writer.isOpen());

    const QByteArray content = readFile(path);
    QVERIFY(content.endsWith('\n'));
    QCOMPARE(content.count('\n'), 2); // one line per record: nothing is pretty-printed
    const QList<json> records = parseLines(content);
    QCOMPARE(records.size(), 2);
    QCOMPARE(dumped(records.at(0)), dumped(value));
    QCOMPARE(dumped(records.at(1)), QStringLiteral(R"({"second":2})"));
}

void tst_JsonlWriter::invalidUtf8Replaced()
{
    const QString path = m_dir->filePath(QStringLiteral("bad.jsonl"));
    JsonlWriter writer;
    QVERIFY(writer.open(path).ok());
    json record;
    record["text"] = std::string("ok \xff\xfe end");
    record["bad\xc3key"] = 1;
    writer.write(record); // would throw type_error.316 with the default error handler
    QCOMPARE(writer.recordsWritten(), qint64(1));
    QVERIFY(writer.close().ok());

    const QList<json> records = parseLines(readFile(path));
    QCOMPARE(records.size(), 1);
    QCOMPARE(QString::fromStdString(records.at(0).at("text").get<std::string>()),
             QStringLiteral("ok \uFFFD\uFFFD end"));
    QVERIFY(records.at(0).contains("bad\xef\xbf\xbdkey"));
}

void tst_JsonlWriter::appendKeepsEarlierLines()
{
    const QString path = m_dir->filePath(QStringLiteral("append.jsonl"));
    {
        JsonlWriter writer;
        QVERIFY(writer.open(path).ok());
        writer.write(json{{"n", 1}});
        writer.write(json{{"n", 2}});
        QVERIFY(writer.close().ok());
    }
    JsonlWriter writer;
    QVERIFY(writer.open(path, true).ok());
    QCOMPARE(writer.recordsWritten(), qint64(0)); // counts this writer's records only
    writer.write(json{{"n", 3}});
    QVERIFY(writer.close().ok());
    QCOMPARE(writer.recordsWritten(), qint64(1));

    const QList<json> records = parseLines(readFile(path));
    QCOMPARE(records.size(), 3);
    for (int i = 0; i < 3; ++i)
        QCOMPARE(records.at(i).at("n").get<int>(), i + 1);
}

void tst_JsonlWriter::secretsAreRedacted()
{
    const QString path = m_dir->filePath(QStringLiteral("secret.jsonl"));
    JsonlWriter writer;
    QVERIFY(writer.open(path).ok());
    writer.setSecrets(Secrets({QByteArrayLiteral("sk-canary-123456"), QByteArrayLiteral("short")}));
    writer.write(json{{"error", "HTTP 401: Incorrect API key provided: Bearer sk-canary-123456"},
                      {"body", {{"echo", "sk-canary-123456sk-canary-123456"}}},
                      {"note", "a short word"}});
    QVERIFY(writer.close().ok());
    const QByteArray text = readFile(path);
    QVERIFY2(!text.contains("sk-canary-123456"), text.constData());
    const QList<json> records = parseLines(text);
    QCOMPARE(records.size(), 1);
    QCOMPARE(QString::fromStdString(records[0]["error"].get<std::string>()),
             QStringLiteral("HTTP 401: Incorrect API key provided: Bearer [REDACTED]"));
    QCOMPARE(QString::fromStdString(records[0]["body"]["echo"].get<std::string>()),
             QStringLiteral("[REDACTED][REDACTED]"));
    QCOMPARE(QString::fromStdString(records[0]["note"].get<std::string>()), QStringLiteral("a short word"));
}

void tst_JsonlWriter::sizeAndSync()
{
    const QString path = m_dir->filePath(QStringLiteral("size.jsonl"));
    {
        JsonlWriter writer;
        QVERIFY(writer.open(path).ok());
        writer.write(json{{"n", 1}});
        QCOMPARE(writer.fileBytes(), qint64(0)); // buffered
        QVERIFY(writer.sync().ok());
        QCOMPARE(writer.fileBytes(), qint64(8));
        QCOMPARE(QFileInfo(path).size(), qint64(8));
    }
    JsonlWriter writer;
    QVERIFY(writer.open(path, true).ok());
    QCOMPARE(writer.fileBytes(), qint64(8)); // what the file held when opened for appending
    writer.write(json{{"n", 2}});
    QVERIFY(writer.flush().ok());
    QCOMPARE(writer.fileBytes(), qint64(16));
}

void tst_JsonlWriter::truncateReplacesContent()
{
    const QString path = m_dir->filePath(QStringLiteral("trunc.jsonl"));
    {
        QFile file(path);
        QVERIFY(file.open(QIODevice::WriteOnly));
        file.write("{\"old\":1}\n{\"old\":2}\n");
    }
    JsonlWriter writer;
    QVERIFY(writer.open(path, false).ok());
    writer.write(json{{"new", 1}});
    QVERIFY(writer.close().ok());
    QCOMPARE(readFile(path), QByteArray("{\"new\":1}\n"));
}

void tst_JsonlWriter::flushThreshold()
{
    const QString path = m_dir->filePath(QStringLiteral("threshold.jsonl"));
    JsonlWriter writer(100);
    QVERIFY(writer.open(path).ok());

    const json record = {{"pad", std::string(39, 'p')}}; // 50 bytes with its newline
    writer.write(record);
    writer.write(record);
    QCOMPARE(readFile(path), QByteArray()); // 100 bytes buffered: not past the threshold yet
    writer.write(record);
    const QByteArray onDisk = readFile(path);
    QCOMPARE(onDisk.count('\n'), 3); // written before close, whole lines only
    QCOMPARE(parseLines(onDisk).size(), 3);

    writer.write(record);
    QCOMPARE(readFile(path).count('\n'), 3);
    QVERIFY(writer.close().ok());
    QCOMPARE(readFile(path).count('\n'), 4);
    QCOMPARE(writer.recordsWritten(), qint64(4));
}

void tst_JsonlWriter::explicitFlush()
{
    const QString path = m_dir->filePath(QStringLiteral("flush.jsonl"));
    JsonlWriter writer;
    QVERIFY(writer.open(path).ok());
    writer.write(json{{"a", 1}});
    QCOMPARE(readFile(path), QByteArray());
    QVERIFY(writer.flush().ok());
    QCOMPARE(readFile(path), QByteArray("{\"a\":1}\n"));
    QVERIFY(writer.flush().ok()); // nothing pending
    QCOMPARE(readFile(path), QByteArray("{\"a\":1}\n"));
}

void tst_JsonlWriter::destructorFlushes()
{
    const QString path = m_dir->filePath(QStringLiteral("dtor.jsonl"));
    {
        JsonlWriter writer;
        QVERIFY(writer.open(path).ok());
        writer.write(json{{"kept", true}});
    }
    QCOMPARE(readFile(path), QByteArray("{\"kept\":true}\n"));
}

void tst_JsonlWriter::openFailsInMissingFolder()
{
    const QString path = m_dir->filePath(QStringLiteral("no-such-folder/out.jsonl"));
    JsonlWriter writer;
    const Result<void> opened = writer.open(path);
    QVERIFY(!opened.ok());
    QCOMPARE(int(opened.error().code), int(Error::Code::Io));
    QVERIFY2(opened.error().message.startsWith(path + QStringLiteral(": cannot open for writing: ")),
             qPrintable(opened.error().message));
    QVERIFY(!writer.isOpen());
}

void tst_JsonlWriter::writeWhileClosedReported()
{
    JsonlWriter writer;
    writer.write(json{{"lost", 1}});
    QCOMPARE(writer.recordsWritten(), qint64(0));
    const Result<void> flushed = writer.flush();
    QVERIFY(!flushed.ok());
    QCOMPARE(int(flushed.error().code), int(Error::Code::Io));
    QVERIFY(writer.flush().ok()); // reported once
}

QTEST_GUILESS_MAIN(tst_JsonlWriter)
#include "tst_jsonlwriter.moc"
