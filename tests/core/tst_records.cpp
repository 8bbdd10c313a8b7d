// Records: the output record shapes (README "Output").

#include "io/records.h"

#include <QTest>

using namespace Sluice;
using json = nlohmann::json;

class tst_Records : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void resultLineShape();
    void resultLineKeepsTheReplyAsSent();
    void resultLineEscapesFields();
    void resultLineStreamingAndCostFields();
    void resultLineCarriesTheLinesMetadata_data();
    void resultLineCarriesTheLinesMetadata();
};

namespace {

Request request(const QString &customId, qint64 line)
{
    Request r;
    r.customId = customId;
    r.line = line;
    return r;
}

Completion completion()
{
    return Completion{QStringLiteral("ep-a"), 2, 200, 812.44, QStringLiteral("req_9")};
}

} // namespace

void tst_Records::resultLineCarriesTheLinesMetadata_data()
{
    QTest::addColumn<QString>("lineText");
    QTest::addColumn<QString>("expectedTail");
    QTest::newRow("chat body with metadata") << R"({"messages":[],"metadata":{"row":7,"tag":"é"}})"
                                             << R"(,"metadata":{"row":7,"tag":"é"}})";
    QTest::newRow("batch line with metadata")
        << R"({"custom_id":"x","method":"POST","url":"/v1/chat/completions","body":{},"metadata":{"k":[1]}})"
        << R"(,"metadata":{"k":[1]}})";
    QTest::newRow("no metadata") << R"({"input":"hi"})"
                                 << R"("cost_usd":null})";
    QTest::newRow("metadata not an object") << R"({"input":"hi","metadata":"x"})"
                                            << R"("cost_usd":null})";
}

void tst_Records::resultLineCarriesTheLinesMetadata()
{
    QFETCH(QString, lineText);
    QFETCH(QString, expectedTail);
    Request r = request(QStringLiteral("a1"), 3);
    r.input = nlohmann::json::parse(lineText.toStdString());
    const QString line =
        QString::fromStdString(Records::resultLine(QStringLiteral("run_1"), r, R"({})", completion()));
    QVERIFY2(line.endsWith(expectedTail), qPrintable(line));
    QVERIFY(!nlohmann::json::parse(line.toStdString(), nullptr, false).is_discarded());
}

void tst_Records::resultLineStreamingAndCostFields()
{
    Completion c = completion();
    c.ttftMs = 123.456;
    c.outputTokensPerS = 41.27;
    c.costUsd = 0.000123456789;
    const QString line = QString::fromStdString(
        Records::resultLine(QStringLiteral("run_1"), request(QStringLiteral("a1"), 3), R"({})", c));
    QVERIFY2(
        line.endsWith(QLatin1String(R"("ttft_ms":123.5,"output_tokens_per_s":41.3,"cost_usd":0.00012346})")),
        qPrintable(line));
}

void tst_Records::resultLineShape()
{
    const std::string line = Records::resultLine(QStringLiteral("run_1"), request(QStringLiteral("a1"), 17),
                                                 R"({"ok":true})", completion());
    QVERIFY(line.find('\n') == std::string::npos);
    // The documented key order, the OpenAI Batch output's first.
    QCOMPARE(
        QString::fromStdString(line),
        QStringLiteral(
            R"({"id":"run_1-17","custom_id":"a1","line":17,"response":{"status_code":200,)"
            R"("request_id":"req_9","body":{"ok":true}},"error":null,"endpoint":"ep-a",)"
            R"("attempts":2,"latency_ms":812.4,"ttft_ms":null,"output_tokens_per_s":null,"cost_usd":null})"));
}

void tst_Records::resultLineKeepsTheReplyAsSent()
{
    // A pretty-printed reply (as OpenAI sends them): one line, the whitespace inside strings kept,
    // keys in the server's order, numbers as written.
    const QByteArray reply =
        "{\n  \"id\": \"chatcmpl-1\",\n  \"choices\": [\n    {\"message\": {\"content\": "
        "\"two  spaces, a \\\"quote\\\", a\\nnewline and \\\\ } {\"}}\n  ],\r\n\t\"n\": 1.50\n}\n";
    const std::string line =
        Records::resultLine(QStringLiteral("r"), request(QStringLiteral("x"), 1), reply, completion());
    QVERIFY(line.find('\n') == std::string::npos);
    QVERIFY(line.find('\r') == std::string::npos);
    const json record = json::parse(line);
    const json body = record.at("response").at("body");
    QVERIFY(body == json::parse(reply.toStdString()));
    QVERIFY2(
        line.find(
            R"("body":{"id":"chatcmpl-1","choices":[{"message":{"content":"two  spaces, a \"quote\", a\nnewline and \\ } {"}}],"n":1.50})") !=
            std::string::npos,
        line.c_str());
    // A byte order mark before it (the JSON parser skips one) does not reach the record.
    const std::string withBom = Records::resultLine(QStringLiteral("r"), request(QStringLiteral("x"), 1),
                                                    QByteArray("\xEF\xBB\xBF" + reply), completion());
    QCOMPARE(withBom, line);
}

void tst_Records::resultLineEscapesFields()
{
    QString id = QStringLiteral("quote\" backslash\\ tab\t newline\n é ✓ \U0001F600 end");
    id += QChar(0x01);
    id += QChar(0x1f);
    id += QChar(u'\0');
    const std::string line = Records::resultLine(QStringLiteral("run"), request(id, 3), "[]",
                                                 Completion{QStringLiteral("e\"p"), 1, 201, 0.04, {}});
    const json record = json::parse(line);
    QCOMPARE(QString::fromStdString(record.at("custom_id").get<std::string>()), id);
    QCOMPARE(QString::fromStdString(record.at("endpoint").get<std::string>()), QStringLiteral("e\"p"));
    QCOMPARE(record.at("response").at("status_code").get<int>(), 201);
    QCOMPARE(record.at("response").at("request_id").get<std::string>(), std::string());
    QCOMPARE(record.at("latency_ms").get<double>(), 0.0);
    QVERIFY(record.at("error").is_null());
}

QTEST_GUILESS_MAIN(tst_Records)
#include "tst_records.moc"
