#include "charts/livecharts.h"
#include "engine/engine.h"
#include "exporter.h"
#include "sim/simulator.h"

#include <QDirIterator>
#include <QFile>
#include <QImage>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace Sluice;
using Sluice::Gui::Exporter;
using json = nlohmann::json;

namespace {

QByteArray readFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return QByteArray("<cannot read>");
    return file.readAll();
}

bool writeFile(const QString &path, const QByteArray &content)
{
    QFile file(path);
    return file.open(QIODevice::WriteOnly) && file.write(content) == content.size();
}

QByteArray jsonLine(const json &value)
{
    return QByteArray::fromStdString(value.dump()) + '\n';
}

/// A small RFC 4180 reader: quoted fields with doubled quotes, CRLF or LF record ends.
QList<QStringList> parseCsv(const QByteArray &csv)
{
    QList<QStringList> rows;
    QStringList row;
    QByteArray field;
    bool quoted = false;
    bool fieldStarted = false;
    auto endField = [&]() {
        row << QString::fromUtf8(field);
        field.clear();
        fieldStarted = false;
    };
    for (qsizetype i = 0; i < csv.size(); ++i) {
        const char c = csv.at(i);
        if (quoted) {
            if (c == '"' && i + 1 < csv.size() && csv.at(i + 1) == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"') {
            quoted = true;
            fieldStarted = true;
        } else if (c == ',') {
            endField();
        } else if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < csv.size() && csv.at(i + 1) == '\n')
                ++i;
            endField();
            rows << row;
            row.clear();
        } else {
            field += c;
            fieldStarted = true;
        }
    }
    if (fieldStarted || !row.isEmpty()) {
        endField();
        rows << row;
    }
    return rows;
}

QString u8(const char *text)
{
    return QString::fromUtf8(text);
}

} // namespace

class tst_Exporter : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void resultsToCsv();
    void errorsToCsv();
    void csvMissingSource();
    void csvUnwritableDestination();
    void htmlReport();
    void savePngRoundTrip();
    void savePngUnwritable();
    void copyFileOverwrites();
    void copyFileOntoItself();
    void copyFileErrors();
    void canaryKeyNeverInExports();

private:
    QTemporaryDir m_dir;
};

void tst_Exporter::resultsToCsv()
{
    QVERIFY(m_dir.isValid());
    const QString in = m_dir.filePath(QStringLiteral("results.jsonl"));
    const QString out = m_dir.filePath(QStringLiteral("results.csv"));

    QByteArray jsonl;
    // OpenAI: commas, quotes, a newline and non-ASCII in the answer.
    json openai = {{"id", "run-1"},      {"custom_id", "a,\"b\""}, {"line", 1},          {"error", nullptr},
                   {"endpoint", "ep,1"}, {"attempts", 2},          {"latency_ms", 123.4}};
    openai["response"] = {
        {"status_code", 200},
        {"request_id", "req_1"},
        {"body",
         {{"model", "gpt-4o-mini"},
          {"choices", json::array({{{"index", 0},
                                    {"message",
                                     {{"role", "assistant"},
                                      {"content", "Hello, \"world\"\nline2 \u00fcn\u00efc\u00f8d\u00e9 "
                                                  "\u65e5\u672c"}}}}})},
          {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5}, {"total_tokens", 15}}}}}};
    jsonl += jsonLine(openai);
    jsonl += "\n";                 // blank line: skipped
    jsonl += "this is not json\n"; // unparseable: skipped
    jsonl += "[1, 2, 3]\n";        // not an object: skipped
    // Anthropic: text blocks joined, a tool_use block ignored, CRLF kept inside the quoted cell.
    json anthropic = {{"id", "run-3"},        {"custom_id", "anth"}, {"line", 3},       {"error", nullptr},
                      {"endpoint", "claude"}, {"attempts", 1},       {"latency_ms", 50}};
    anthropic["response"] = {
        {"status_code", 200},
        {"request_id", "msg_1"},
        {"body",
         {{"model", "claude-x"},
          {"content",
           json::array({{{"type", "text"}, {"text", "Part one. "}},
                        {{"type", "tool_use"}, {"id", "t1"}, {"name", "f"}, {"input", json::object()}},
                        {{"type", "text"}, {"text", "Part two\r\n"}}})},
          {"usage", {{"input_tokens", 7}, {"output_tokens", 3}}}}}};
    jsonl += jsonLine(anthropic);
    // Invalid UTF-8 inside a string: the line is kept with U+FFFD.
    jsonl += "{\"custom_id\":\"bad\xff"
             "utf8\",\"line\":4,\"response\":{\"status_code\":200,\"body\":null},"
             "\"endpoint\":\"e\",\"attempts\":1,\"latency_ms\":1.5}\r\n";
    // No body, tool-call answer with null content.
    jsonl += "{\"custom_id\":\"tool\",\"line\":5,\"response\":{\"status_code\":200,\"body\":{\"choices\":[{"
             "\"message\":{\"content\":null}}]}},\"endpoint\":\"e\",\"attempts\":1,\"latency_ms\":2}";
    QVERIFY(writeFile(in, jsonl));

    const Result<void> result = Exporter::resultsToCsv(in, out);
    QVERIFY2(result.ok(), qPrintable(result.error().message));

    const QByteArray csv = readFile(out);
    QVERIFY(csv.endsWith("\r\n"));
    const QList<QStringList> rows = parseCsv(csv);
    QCOMPARE(rows.size(), 5);
    QCOMPARE(rows.at(0), QStringList({QStringLiteral("custom_id"), QStringLiteral("line"),
                                      QStringLiteral("status_code"), QStringLiteral("endpoint"),
                                      QStringLiteral("attempts"), QStringLiteral("latency_ms"),
                                      QStringLiteral("model"), QStringLiteral("input_tokens"),
                                      QStringLiteral("output_tokens"), QStringLiteral("content")}));
    QCOMPARE(rows.at(1),
             QStringList({u8("a,\"b\""), u8("1"), u8("200"), u8("ep,1"), u8("2"), u8("123.4"),
                          u8("gpt-4o-mini"), u8("10"), u8("5"),
                          u8("Hello, \"world\"\nline2 \u00fcn\u00efc\u00f8d\u00e9 \u65e5\u672c")}));
    QCOMPARE(rows.at(2), QStringList({u8("anth"), u8("3"), u8("200"), u8("claude"), u8("1"), u8("50"),
                                      u8("claude-x"), u8("7"), u8("3"), u8("Part one. Part two\r\n")}));
    QCOMPARE(rows.at(3), QStringList({u8("bad\ufffdutf8"), u8("4"), u8("200"), u8("e"), u8("1"), u8("1.5"),
                                      QString(), QString(), QString(), QString()}));
    QCOMPARE(rows.at(4), QStringList({u8("tool"), u8("5"), u8("200"), u8("e"), u8("1"), u8("2"), QString(),
                                      QString(), QString(), QString()}));
}

void tst_Exporter::errorsToCsv()
{
    QVERIFY(m_dir.isValid());
    const QString in = m_dir.filePath(QStringLiteral("errors.jsonl"));
    const QString out = m_dir.filePath(QStringLiteral("errors.csv"));

    // Keys in sorted order, so the compact dump is this exact text.
    const QByteArray input = R"({"messages":[{"content":"hi, \"x\"\nbye","role":"user"}],"model":"m"})";
    QByteArray jsonl;
    jsonl += R"({"custom_id":"c1","line":2,"input":)" + input +
             R"(,"error":"HTTP 429: slow down, \"please\"","error_class":"rate_limited","status":429,)"
             R"("attempts":5,"endpoint":"ep <1>"})"
             "\n";
    jsonl += R"({"custom_id":"","line":7,"input":"raw, \"not\" json","error":"line 7: not JSON",)"
             R"("error_class":"invalid_input","status":null,"attempts":0,"endpoint":null})"
             "\n";
    jsonl += "garbage\n";
    jsonl += R"({"custom_id":"\u00e9t\u00e9","line":9,"input":{"a":1},"error":"timed out",)"
             R"("error_class":"timeout","status":null,"attempts":3,"endpoint":"e"})";
    QVERIFY(writeFile(in, jsonl));

    const Result<void> result = Exporter::errorsToCsv(in, out);
    QVERIFY2(result.ok(), qPrintable(result.error().message));

    const QList<QStringList> rows = parseCsv(readFile(out));
    QCOMPARE(rows.size(), 4);
    QCOMPARE(rows.at(0), QStringList({u8("custom_id"), u8("line"), u8("error_class"), u8("status"),
                                      u8("attempts"), u8("endpoint"), u8("error"), u8("input")}));
    QCOMPARE(rows.at(1), QStringList({u8("c1"), u8("2"), u8("rate_limited"), u8("429"), u8("5"), u8("ep <1>"),
                                      u8("HTTP 429: slow down, \"please\""), QString::fromUtf8(input)}));
    QCOMPARE(rows.at(2), QStringList({QString(), u8("7"), u8("invalid_input"), QString(), u8("0"), QString(),
                                      u8("line 7: not JSON"), u8("raw, \"not\" json")}));
    QCOMPARE(rows.at(3), QStringList({u8("\u00e9t\u00e9"), u8("9"), u8("timeout"), QString(), u8("3"),
                                      u8("e"), u8("timed out"), u8("{\"a\":1}")}));
}

void tst_Exporter::csvMissingSource()
{
    QVERIFY(m_dir.isValid());
    const QString in = m_dir.filePath(QStringLiteral("does-not-exist.jsonl"));
    const Result<void> result = Exporter::resultsToCsv(in, m_dir.filePath(QStringLiteral("x.csv")));
    QVERIFY(!result.ok());
    QCOMPARE(result.error().code, Error::Code::Io);
    QVERIFY2(result.error().message.startsWith(in + QStringLiteral(": ")),
             qPrintable(result.error().message));
}

void tst_Exporter::csvUnwritableDestination()
{
    QVERIFY(m_dir.isValid());
    const QString in = m_dir.filePath(QStringLiteral("small.jsonl"));
    QVERIFY(writeFile(in, "{\"custom_id\":\"a\",\"line\":1,\"input\":\"x\"}\n"));
    const QString out = m_dir.filePath(QStringLiteral("no-such-dir/out.csv"));
    for (const Result<void> &result : {Exporter::resultsToCsv(in, out), Exporter::errorsToCsv(in, out)}) {
        QVERIFY(!result.ok());
        QCOMPARE(result.error().code, Error::Code::Io);
        QVERIFY2(result.error().message.startsWith(out + QStringLiteral(": ")),
                 qPrintable(result.error().message));
    }
    QVERIFY(!QFile::exists(out));
}

void tst_Exporter::htmlReport()
{
    QVERIFY(m_dir.isValid());
    const QString path = m_dir.filePath(QStringLiteral("report.html"));

    MetricsSnapshot summary;
    summary.state = RunState::Finished;
    summary.elapsedMs = 83'500;
    summary.linesRead = 98765;
    summary.succeeded = 98000;
    summary.failed = 765;
    summary.issued = 101234;
    summary.retries = 2469;
    summary.rateLimited = 1357;
    summary.overflow = 4242;
    summary.averageRps = 1182.75;
    summary.p50Ms = 210.5;
    summary.p90Ms = 480.26;
    summary.p99Ms = 1250;
    summary.inputTokens = 5550001;
    summary.outputTokens = 777003;
    summary.errorsByClass.insert(QStringLiteral("rate_limited"), 700);
    summary.errorsByClass.insert(QStringLiteral("<script>"), 65);
    summary.cost.spentUsd = 12.3456;
    summary.cost.earlierUsd = 4.5;
    summary.cost.budgetUsd = 20;
    summary.cost.budgetReached = true;
    summary.cost.unpricedReplies = 31;

    EndpointStats hostile;
    hostile.name = QStringLiteral("<b>&\"x\"");
    hostile.weight = 3;
    hostile.sent = 60606;
    hostile.ok = 59595;
    hostile.rateLimited = 1011;
    hostile.errors = 17;
    hostile.state = EndpointState::CoolingDown;
    hostile.limitRps = 12.5;
    hostile.limitReason = LimitReason::HeaderRemaining;
    hostile.p50Ms = 111.1;
    hostile.p90Ms = 222.2;
    hostile.p99Ms = 333.3;
    hostile.costSpentUsd = 7.25;
    EndpointStats plain;
    plain.name = QStringLiteral("plain-ep");
    plain.weight = 1;
    plain.sent = 40628;
    plain.ok = 38405;
    plain.state = EndpointState::Active;
    summary.endpoints = {hostile, plain};

    ProjectConfig project;
    EndpointConfig e1;
    e1.name = hostile.name;
    e1.url = QUrl(QStringLiteral("http://user:pw@h:1/v1?key=SECRET#frag"));
    e1.apiKeyEnv = QStringLiteral("MY_KEY_VAR");
    EndpointConfig e2;
    e2.name = plain.name;
    e2.url = QUrl(QStringLiteral("https://api.example.com/v1/chat/completions"));
    project.endpoints = {e1, e2};

    QImage charts(120, 60, QImage::Format_ARGB32);
    charts.fill(QColor(40, 90, 200));

    const Result<void> result = Exporter::htmlReport(path, summary, project, charts,
                                                     QStringLiteral("/some/where/requests <1>.jsonl"));
    QVERIFY2(result.ok(), qPrintable(result.error().message));
    QString html = QString::fromUtf8(readFile(path));

    QVERIFY(html.startsWith(QStringLiteral("<!DOCTYPE html>")));
    QVERIFY(html.contains(QStringLiteral("<title>Sluice run report</title>")));
    QVERIFY(html.contains(QStringLiteral("Error rate (lines)</dt><dd>0.77 %"))); // 765 of 98,765
    QVERIFY(html.contains(QStringLiteral("prefers-color-scheme")));
    QVERIFY(html.contains(QStringLiteral("&lt;b&gt;&amp;&quot;x&quot;")));
    QVERIFY(!html.contains(QStringLiteral("<b>&\"x\"")));
    QVERIFY(html.contains(QStringLiteral("12.50 req/s (header remaining)")));
    QVERIFY(html.contains(QStringLiteral("&lt;script&gt;")));
    QVERIFY(!html.contains(QStringLiteral("<script>")));
    QVERIFY(html.contains(QStringLiteral("requests &lt;1&gt;.jsonl")));
    QVERIFY(!html.contains(QStringLiteral("/some/where")));

    // Summary and per-endpoint numbers.
    for (const char *number : {">98765<",
                               ">98000<",
                               ">765<",
                               ">101234<",
                               ">2469<",
                               ">1357<",
                               ">4242<",
                               ">1182.75<",
                               "210.5 ms",
                               "480.3 ms",
                               "1250.0 ms",
                               ">5550001<",
                               ">777003<",
                               ">60606<",
                               ">59595<",
                               ">1011<",
                               ">17<",
                               ">111.1<",
                               ">222.2<",
                               ">333.3<",
                               ">40628<",
                               ">38405<",
                               ">700<",
                               ">65<",
                               "12.50 req/s",
                               ">7.2500<",
                               ">0.0000<",
                               "Unpriced replies</dt><dd>31 (not in the spend)",
                               "Spent before the resume</dt><dd>$4.50",
                               "Budget</dt><dd>$20.00 (84.2 % used, reached)",
                               "Spent</dt><dd>$12.35"}) {
        QVERIFY2(html.contains(QString::fromUtf8(number)), number);
    }
    QVERIFY(html.contains(QStringLiteral("0:01:23")));
    QVERIFY(html.contains(QStringLiteral("cooling down")));
    QVERIFY(html.contains(QStringLiteral("http://h:1/v1")));
    QVERIFY(html.contains(QStringLiteral("https://api.example.com/v1/chat/completions")));

    // The embedded chart decodes back to the same image size.
    const QRegularExpression dataUri(QStringLiteral("data:image/png;base64,([A-Za-z0-9+/=]+)"));
    const QRegularExpressionMatch match = dataUri.match(html);
    QVERIFY(match.hasMatch());
    QImage embedded;
    QVERIFY(embedded.loadFromData(QByteArray::fromBase64(match.captured(1).toLatin1()), "PNG"));
    QCOMPARE(embedded.size(), charts.size());

    // No credentials anywhere (the base64 payload is left out so it cannot match by chance).
    html.remove(match.capturedStart(1), match.capturedLength(1));
    QVERIFY(!html.contains(QStringLiteral("SECRET")));
    QVERIFY(!html.contains(QStringLiteral("pw")));
    QVERIFY(!html.contains(QStringLiteral("user")));
    QVERIFY(!html.contains(QStringLiteral("frag")));
    QVERIFY(!html.contains(QStringLiteral("key=")));
}

void tst_Exporter::savePngRoundTrip()
{
    QVERIFY(m_dir.isValid());
    const QString path = m_dir.filePath(QStringLiteral("charts.png"));
    QImage image(321, 123, QImage::Format_ARGB32);
    image.fill(QColor(10, 200, 30));
    image.setPixelColor(5, 7, QColor(250, 1, 2));
    const Result<void> result = Exporter::savePng(image, path);
    QVERIFY2(result.ok(), qPrintable(result.error().message));
    QVERIFY(readFile(path).startsWith("\x89PNG"));
    QImage loaded;
    QVERIFY(loaded.load(path));
    QCOMPARE(loaded.size(), image.size());
    QCOMPARE(loaded.pixelColor(5, 7), QColor(250, 1, 2));
}

void tst_Exporter::savePngUnwritable()
{
    QVERIFY(m_dir.isValid());
    const QString path = m_dir.filePath(QStringLiteral("missing-dir/charts.png"));
    QImage image(10, 10, QImage::Format_ARGB32);
    image.fill(Qt::black);
    const Result<void> result = Exporter::savePng(image, path);
    QVERIFY(!result.ok());
    QCOMPARE(result.error().code, Error::Code::Io);
    QVERIFY2(result.error().message.startsWith(path + QStringLiteral(": ")),
             qPrintable(result.error().message));

    const Result<void> empty = Exporter::savePng(QImage(), m_dir.filePath(QStringLiteral("empty.png")));
    QVERIFY(!empty.ok());
    QVERIFY(empty.error().message.contains(QStringLiteral("empty.png")));
}

void tst_Exporter::copyFileOverwrites()
{
    QVERIFY(m_dir.isValid());
    const QString from = m_dir.filePath(QStringLiteral("copy-src.jsonl"));
    const QString to = m_dir.filePath(QStringLiteral("copy-dst.jsonl"));
    QByteArray content;
    for (int i = 0; i < 50000; ++i)
        content += "{\"custom_id\":\"" + QByteArray::number(i) + "\",\"x\":\"\xc3\xa9\"}\n";
    QVERIFY(writeFile(from, content));
    QVERIFY(writeFile(to, "old content that is not the same"));

    const Result<void> result = Exporter::copyFile(from, to);
    QVERIFY2(result.ok(), qPrintable(result.error().message));
    QCOMPARE(readFile(to), content);
    QCOMPARE(readFile(from), content);
}

void tst_Exporter::copyFileOntoItself()
{
    QVERIFY(m_dir.isValid());
    const QString path = m_dir.filePath(QStringLiteral("self.jsonl"));
    QVERIFY(writeFile(path, "{\"a\":1}\n"));
    QVERIFY(Exporter::copyFile(path, path).ok());
    QCOMPARE(readFile(path), QByteArray("{\"a\":1}\n"));
}

void tst_Exporter::copyFileErrors()
{
    QVERIFY(m_dir.isValid());
    const QString missing = m_dir.filePath(QStringLiteral("absent.jsonl"));
    const Result<void> noSource = Exporter::copyFile(missing, m_dir.filePath(QStringLiteral("dst.jsonl")));
    QVERIFY(!noSource.ok());
    QCOMPARE(noSource.error().code, Error::Code::Io);
    QVERIFY2(noSource.error().message.startsWith(missing + QStringLiteral(": ")),
             qPrintable(noSource.error().message));

    const QString from = m_dir.filePath(QStringLiteral("present.jsonl"));
    QVERIFY(writeFile(from, "{}\n"));
    const QString to = m_dir.filePath(QStringLiteral("nowhere/dst.jsonl"));
    const Result<void> noDir = Exporter::copyFile(from, to);
    QVERIFY(!noDir.ok());
    QCOMPARE(noDir.error().code, Error::Code::Io);
    QVERIFY2(noDir.error().message.startsWith(to + QStringLiteral(": ")), qPrintable(noDir.error().message));
    QVERIFY(noDir.error().message.contains(from));
}

void tst_Exporter::canaryKeyNeverInExports()
{
    // A real run whose key comes from a canary environment variable (one endpoint accepts it, one
    // answers 401), then every export the window offers; none may hold the key.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QByteArray canary = "sk-canary-gui-5e8d2b7a91c4";
    const QList<QByteArray> needles{canary, QByteArrayLiteral("5e8d2b7a")};
    const QString keyVar = QStringLiteral("SLUICE_TEST_EXPORT_CANARY");
    qputenv(keyVar.toLatin1().constData(), canary);
    const auto unset = qScopeGuard([&] { qunsetenv(keyVar.toLatin1().constData()); });

    SimulatorConfig accepting;
    accepting.requireKey = QString::fromLatin1(canary);
    Simulator keyed(accepting);
    SimulatorConfig refusing;
    refusing.requireKey = QStringLiteral("sk-some-other-key");
    Simulator wrongKey(refusing);
    QVERIFY(keyed.listen());
    QVERIFY(wrongKey.listen());

    ProjectConfig project;
    EndpointConfig a;
    a.name = QStringLiteral("keyed");
    a.url = keyed.chatUrl();
    a.apiKeyEnv = keyVar;
    a.weight = 3;
    EndpointConfig b = a;
    b.name = QStringLiteral("wrong-key");
    b.url = wrongKey.chatUrl();
    b.weight = 1;
    project.endpoints = {a, b};

    QByteArray requests;
    for (int i = 0; i < 40; ++i)
        requests +=
            jsonLine({{"custom_id", "c" + std::to_string(i)}, {"input", "hello " + std::to_string(i)}});
    requests += jsonLine({{"custom_id", "rejected"}, {"input", "@sim(status=400)"}});
    requests += "{not json\n";
    RunOptions options;
    options.requestsPath = dir.filePath(QStringLiteral("requests.jsonl"));
    options.outPath = dir.filePath(QStringLiteral("results.jsonl"));
    options.errorsPath = dir.filePath(QStringLiteral("errors.jsonl"));
    options.tickMs = 50;
    QVERIFY(writeFile(options.requestsPath, requests));

    Engine engine(project, options);
    QSignalSpy finished(&engine, &Engine::finished);
    const Result<void> started = engine.start();
    QVERIFY2(started.ok(), qPrintable(started.ok() ? QString() : started.error().message));
    QVERIFY(finished.wait(30000));
    const MetricsSnapshot summary = engine.snapshot();
    QCOMPARE(summary.succeeded + summary.failed, qint64(42));
    QVERIFY(summary.succeeded > 0);
    // Some requests went to the endpoint that refuses the key: 401s are in the errors file.
    QVERIFY2(readFile(options.errorsPath).contains("\"status\":401"),
             readFile(options.errorsPath).constData());

    const auto out = [&dir](const char *name) {
        return dir.filePath(QLatin1String(name));
    };
    QVERIFY(Exporter::resultsToCsv(options.outPath, out("results.csv")).ok());
    QVERIFY(Exporter::errorsToCsv(options.errorsPath, out("errors.csv")).ok());
    QVERIFY(Exporter::copyFile(options.outPath, out("results-export.jsonl")).ok());
    QVERIFY(Exporter::copyFile(options.errorsPath, out("errors-export.jsonl")).ok());
    QVERIFY(Metrics::writeHistoryCsv(out("history.csv"), engine.history()).ok());
    Sluice::Gui::LiveCharts charts;
    charts.setHistory(engine.history());
    const QImage image = charts.render(QSize(900, 700));
    QVERIFY(Exporter::savePng(image, out("charts.png")).ok());
    QVERIFY(Exporter::htmlReport(out("report.html"), summary, project, image, options.requestsPath).ok());
    QVERIFY(project.save(out("project.json")).ok()); // File > Save project

    QStringList written;
    QDirIterator it(dir.path(), QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext() && written.size() < 100) {
        const QString file = it.next();
        written << QFileInfo(file).fileName();
        const QByteArray content = readFile(file);
        for (const QByteArray &needle : needles)
            QVERIFY2(!content.contains(needle), qPrintable(file));
    }
    for (const char *name : {"results.csv", "errors.csv", "history.csv", "charts.png", "report.html",
                             "project.json", "results-export.jsonl", "errors-export.jsonl"}) {
        QVERIFY2(written.contains(QLatin1String(name)), name);
    }
    // The project names the variable, never its value.
    QVERIFY(readFile(out("project.json")).contains(keyVar.toLatin1()));
}

QTEST_MAIN(tst_Exporter)
#include "tst_exporter.moc"
