#include "io/jsonlparser.h"

#include <QTest>

#include <cmath>
#include <string>

using namespace Sluice;
using json = nlohmann::json;

Q_DECLARE_METATYPE(Sluice::InputFormat)

namespace {

const QString FileName = QStringLiteral("req.jsonl");

/// Compact text of a JSON value, for QCOMPARE (which cannot compare nlohmann::json directly).
QString dumped(const json &value)
{
    return QString::fromStdString(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

/// The Request from `result`, failing the test (with the error's message) when there is none.
const Request *requestOf(const std::variant<Request, InputError> &result)
{
    if (const auto *error = std::get_if<InputError>(&result)) {
        qWarning("unexpected InputError: %s", qPrintable(error->message));
        return nullptr;
    }
    return &std::get<Request>(result);
}

const InputError *errorOf(const std::variant<Request, InputError> &result)
{
    if (const auto *request = std::get_if<Request>(&result)) {
        qWarning("unexpected Request %s", qPrintable(request->customId));
        return nullptr;
    }
    return &std::get<InputError>(result);
}

QByteArray nested(int depth)
{
    // {"messages":[{"role":"user","content":"x"}],"metadata":{"a":{"a":...{}...}}}: the top-level
    // object and metadata count as two levels, each "a" adds one.
    QByteArray line = R"({"messages":[{"role":"user","content":"x"}],"metadata":)";
    for (int i = 0; i < depth - 2; ++i)
        line += R"({"a":)";
    line += "{}";
    line += QByteArray(depth - 2, '}');
    line += '}';
    return line;
}

} // namespace

class tst_JsonlParser : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void detectsFormat_data();
    void detectsFormat();
    void rejectsBadLine_data();
    void rejectsBadLine();
    void rawInputOfUnparsedLine_data();
    void rawInputOfUnparsedLine();
    void deepNestingRejectedWithoutCrash_data();
    void deepNestingRejectedWithoutCrash();
    void nestingAtLimitAccepted();
    void customDepthLimit();
    void numbers_data();
    void numbers();
    void truncatesLongRawInput();
    void messageNamesFileAndLine();
    void printable_data();
    void printable();
    void messagesRepeatLineTextSafely_data();
    void messagesRepeatLineTextSafely();
    void bodyTextAsWritten_data();
    void bodyTextAsWritten();
};

void tst_JsonlParser::detectsFormat_data()
{
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<InputFormat>("format");
    QTest::addColumn<QString>("customId");

    QTest::newRow("openai batch")
        << QByteArray(R"({"custom_id":"req-1","method":"POST","url":"/v1/chat/completions",)"
                      R"("body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}})")
        << InputFormat::OpenAIBatch << QStringLiteral("req-1");
    QTest::newRow("openai batch, lower-case post")
        << QByteArray(R"({"custom_id":"a","method":"post","url":"/v1/chat/completions","body":{}})")
        << InputFormat::OpenAIBatch << QStringLiteral("a");
    QTest::newRow("openai batch without custom_id")
        << QByteArray(R"({"url":"/v1/chat/completions","body":{"messages":[]}})") << InputFormat::OpenAIBatch
        << QStringLiteral("line-7");
    QTest::newRow("openai batch, only method") << QByteArray(R"({"method":"POST","body":{"x":1}})")
                                               << InputFormat::OpenAIBatch << QStringLiteral("line-7");
    QTest::newRow("anthropic batch")
        << QByteArray(R"({"custom_id":"anth-9","params":{"model":"claude-3-5-haiku-latest","max_tokens":64,)"
                      R"("messages":[{"role":"user","content":"hi"}]}})")
        << InputFormat::AnthropicBatch << QStringLiteral("anth-9");
    QTest::newRow("chat body") << QByteArray(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})")
                               << InputFormat::ChatBody << QStringLiteral("line-7");
    QTest::newRow("chat body with custom_id and metadata")
        << QByteArray(R"({"custom_id":"c1","messages":[{"role":"user","content":"hi"}],"metadata":{"k":1},)"
                      R"("temperature":0.2})")
        << InputFormat::ChatBody << QStringLiteral("c1");
    QTest::newRow("chat body wins over input")
        << QByteArray(R"({"messages":[{"role":"user","content":"hi"}],"input":"ignored"})")
        << InputFormat::ChatBody << QStringLiteral("line-7");
    QTest::newRow("prompt") << QByteArray(R"({"input":"Write a haiku about rivers."})") << InputFormat::Prompt
                            << QStringLiteral("line-7");
    QTest::newRow("prompt with custom_id") << QByteArray(R"({"custom_id":"p-1","input":"hello"})")
                                           << InputFormat::Prompt << QStringLiteral("p-1");
    QTest::newRow("CRLF tolerated") << QByteArray("{\"custom_id\":\"crlf\",\"input\":\"x\"}\r")
                                    << InputFormat::Prompt << QStringLiteral("crlf");
    QTest::newRow("surrounding whitespace")
        << QByteArray(" \t{\"input\":\"x\"}  \t") << InputFormat::Prompt << QStringLiteral("line-7");
    QTest::newRow("unicode custom_id") << QByteArray(R"({"custom_id":"r\u00e9q-\u2603","input":"x"})")
                                       << InputFormat::Prompt << QStringLiteral("r\u00e9q-\u2603");
}

void tst_JsonlParser::detectsFormat()
{
    QFETCH(QByteArray, line);
    QFETCH(InputFormat, format);
    QFETCH(QString, customId);

    const auto result = JsonlParser::parse(line, 7, FileName);
    const Request *request = requestOf(result);
    QVERIFY(request);
    QCOMPARE(toString(request->format), toString(format));
    QCOMPARE(request->customId, customId);
    QCOMPARE(request->line, qint64(7));
    // The whole line is kept, so the engine can derive any body from it.
    QByteArray clean = line;
    if (clean.endsWith('\r'))
        clean.chop(1);
    QCOMPARE(dumped(request->input), dumped(json::parse(clean.toStdString())));
}

void tst_JsonlParser::rejectsBadLine_data()
{
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<QString>("message");  // exact, after "req.jsonl:3: "
    QTest::addColumn<QString>("customId"); // of the error
    QTest::addColumn<bool>("parsed");      // error.input is the parsed line (else the raw text)

    const QString line3 = QStringLiteral("line-3");
    QTest::newRow("syntax error") << QByteArray(R"({"custom_id": "a", })")
                                  << QStringLiteral(
                                         "invalid JSON: syntax error at column 20 (unexpected '}')")
                                  << line3 << false;
    QTest::newRow("missing colon") << QByteArray(R"({"input" "x"})")
                                   << QStringLiteral("invalid JSON: syntax error at column 12 (unexpected "
                                                     "string literal)")
                                   << line3 << false;
    QTest::newRow("truncated JSON")
        << QByteArray(R"({"custom_id":"a","body":{)")
        << QStringLiteral("invalid JSON: unexpected end of line at column 26 (truncated JSON?)") << line3
        << false;
    QTest::newRow("unterminated string")
        << QByteArray(R"({"input":"abc)")
        << QStringLiteral("invalid JSON: invalid string: missing closing quote at column 14") << line3
        << false;
    QTest::newRow("bare word") << QByteArray(R"({"input": nope})")
                               << QStringLiteral("invalid JSON: syntax error at column 12 (not a JSON value)")
                               << line3 << false;
    QTest::newRow("trailing garbage")
        << QByteArray(R"({"input":"x"} {})")
        << QStringLiteral(
               "invalid JSON: syntax error at column 15 (unexpected '{' after the end of the JSON value)")
        << line3 << false;
    QTest::newRow("NUL byte") << QByteArray("{\"input\":\"x\"}\0junk", 18)
                              << QStringLiteral("invalid JSON: NUL byte at column 14") << line3 << false;
    QTest::newRow("empty line") << QByteArray() << QStringLiteral("empty line") << line3 << false;
    QTest::newRow("invalid UTF-8 in a string")
        << QByteArray("{\"input\":\"a\xff"
                      "b\"}")
        << QStringLiteral("invalid JSON: invalid UTF-8 at column 12") << line3 << false;
    QTest::newRow("UTF-8 surrogate half")
        << QByteArray("{\"input\":\"\xed\xa0\x80\"}")
        << QStringLiteral("invalid JSON: invalid UTF-8 at column 12") << line3 << false;
    QTest::newRow("column counts characters, not bytes")
        << QByteArray("{\"input\":\"\xc3\xa9\xc3\xa9\xc3\xa9\",}")
        << QStringLiteral("invalid JSON: syntax error at column 16 (unexpected '}')") << line3 << false;

    QTest::newRow("array line") << QByteArray(R"([{"input":"x"}])")
                                << QStringLiteral("line is a JSON array, expected an object") << line3
                                << true;
    QTest::newRow("string line") << QByteArray(R"("hello")")
                                 << QStringLiteral("line is a JSON string, expected an object") << line3
                                 << true;
    QTest::newRow("number line") << QByteArray("42")
                                 << QStringLiteral("line is a JSON number, expected an object") << line3
                                 << true;
    QTest::newRow("boolean line") << QByteArray("true")
                                  << QStringLiteral("line is a JSON boolean, expected an object") << line3
                                  << true;
    QTest::newRow("null line") << QByteArray("null")
                               << QStringLiteral("line is JSON null, expected an object") << line3 << true;

    QTest::newRow("unknown shape")
        << QByteArray(R"({"foo":1,"bar":2})")
        << QStringLiteral(
               "unknown request shape: expected one of {custom_id, method, url, body} (OpenAI Batch), "
               "{custom_id, params} (Anthropic batch), {messages, ...} (chat body), "
               "{input: \"text\"} (prompt); got keys: bar, foo")
        << line3 << true;
    QTest::newRow("empty object")
        << QByteArray("{}")
        << QStringLiteral(
               "unknown request shape: expected one of {custom_id, method, url, body} (OpenAI Batch), "
               "{custom_id, params} (Anthropic batch), {messages, ...} (chat body), "
               "{input: \"text\"} (prompt); got an empty object")
        << line3 << true;
    QTest::newRow("params without custom_id")
        << QByteArray(R"({"params":{}})")
        << QStringLiteral(
               "unknown request shape: expected one of {custom_id, method, url, body} (OpenAI Batch), "
               "{custom_id, params} (Anthropic batch), {messages, ...} (chat body), "
               "{input: \"text\"} (prompt); got keys: params")
        << line3 << true;

    QTest::newRow("custom_id is a number")
        << QByteArray(R"({"custom_id":12,"input":"x"})")
        << QStringLiteral("custom_id must be a string, got a number") << line3 << true;
    QTest::newRow("custom_id is null")
        << QByteArray(R"({"custom_id":null,"input":"x"})")
        << QStringLiteral("custom_id must be a string, got null") << line3 << true;
    QTest::newRow("custom_id is empty") << QByteArray(R"({"custom_id":"","input":"x"})")
                                        << QStringLiteral("custom_id must not be empty") << line3 << true;

    QTest::newRow("body not an object")
        << QByteArray(R"({"custom_id":"r1","method":"POST","url":"/v1/chat/completions","body":"hi"})")
        << QStringLiteral("\"body\" must be an object, got a string") << QStringLiteral("r1") << true;
    QTest::newRow("method GET")
        << QByteArray(R"({"custom_id":"r2","method":"GET","url":"/v1/chat/completions","body":{}})")
        << QStringLiteral("\"method\" must be \"POST\", got \"GET\"") << QStringLiteral("r2") << true;
    QTest::newRow("method not a string")
        << QByteArray(R"({"custom_id":"r3","method":1,"body":{}})")
        << QStringLiteral("\"method\" must be \"POST\", got a number") << QStringLiteral("r3") << true;
    QTest::newRow("url not a string")
        << QByteArray(R"({"custom_id":"r4","url":["/v1"],"body":{}})")
        << QStringLiteral("\"url\" must be a string, got an array") << QStringLiteral("r4") << true;
    QTest::newRow("params not an object")
        << QByteArray(R"({"custom_id":"a5","params":[]})")
        << QStringLiteral("\"params\" must be an object, got an array") << QStringLiteral("a5") << true;
    QTest::newRow("empty messages") << QByteArray(R"({"custom_id":"c6","messages":[]})")
                                    << QStringLiteral(
                                           "\"messages\" must be a non-empty array, got an empty array")
                                    << QStringLiteral("c6") << true;
    QTest::newRow("messages not an array")
        << QByteArray(R"({"messages":{"role":"user"}})")
        << QStringLiteral("\"messages\" must be a non-empty array, got an object") << line3 << true;
    QTest::newRow("input not a string")
        << QByteArray(R"({"input":["a","b"]})")
        << QStringLiteral("\"input\" must be a non-empty string, got an array") << line3 << true;
    QTest::newRow("input empty") << QByteArray(R"({"custom_id":"p7","input":""})")
                                 << QStringLiteral(
                                        "\"input\" must be a non-empty string, got an empty string")
                                 << QStringLiteral("p7") << true;
}

void tst_JsonlParser::rejectsBadLine()
{
    QFETCH(QByteArray, line);
    QFETCH(QString, message);
    QFETCH(QString, customId);
    QFETCH(bool, parsed);

    const auto result = JsonlParser::parse(line, 3, FileName);
    const InputError *error = errorOf(result);
    QVERIFY(error);
    QCOMPARE(error->message, QStringLiteral("req.jsonl:3: ") + message);
    QCOMPARE(error->line, qint64(3));
    QCOMPARE(error->customId, customId);
    QCOMPARE(toString(error->cls), toString(ErrorClass::InvalidInput));
    if (parsed) {
        QCOMPARE(dumped(error->input), dumped(json::parse(line.toStdString())));
    } else {
        QVERIFY(error->input.is_string());
        QCOMPARE(QString::fromStdString(error->input.get<std::string>()), QString::fromUtf8(line));
    }
}

void tst_JsonlParser::rawInputOfUnparsedLine_data()
{
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<QString>("input");

    QTest::newRow("plain") << QByteArray("{oops") << QStringLiteral("{oops");
    QTest::newRow("invalid UTF-8 replaced") << QByteArray("{\"input\":\"a\xff\xfe"
                                                          "b\"}")
                                            << QStringLiteral("{\"input\":\"a\uFFFD\uFFFDb\"}");
    QTest::newRow("CR stripped") << QByteArray("{oops\r") << QStringLiteral("{oops");
    QTest::newRow("valid UTF-8 kept")
        << QByteArray("{\"input\":\"caf\xc3\xa9\",") << QStringLiteral("{\"input\":\"caf\u00e9\",");
}

void tst_JsonlParser::rawInputOfUnparsedLine()
{
    QFETCH(QByteArray, line);
    QFETCH(QString, input);

    const auto result = JsonlParser::parse(line, 1, FileName);
    const InputError *error = errorOf(result);
    QVERIFY(error);
    QVERIFY(error->input.is_string());
    const std::string raw = error->input.get<std::string>();
    QCOMPARE(QString::fromStdString(raw), input);
    // What ends up in the errors file must be valid UTF-8: dump() throws on anything else by default.
    QCOMPARE(QString::fromStdString(json(raw).dump()),
             QString::fromStdString(json(input.toStdString()).dump()));
}

void tst_JsonlParser::deepNestingRejectedWithoutCrash_data()
{
    QTest::addColumn<QByteArray>("line");

    constexpr int Depth = 100000;
    QTest::newRow("arrays, closed") << QByteArray(Depth, '[') + QByteArray(Depth, ']');
    QTest::newRow("arrays, unclosed") << QByteArray(Depth, '[');
    QByteArray objects;
    for (int i = 0; i < Depth; ++i)
        objects += R"({"a":)";
    objects += "1" + QByteArray(Depth, '}');
    QTest::newRow("objects") << objects;
    QTest::newRow("inside a request") << QByteArray(R"({"messages":)") + QByteArray(Depth, '[') + "]}";
    QTest::newRow("65 levels") << nested(65);
}

void tst_JsonlParser::deepNestingRejectedWithoutCrash()
{
    QFETCH(QByteArray, line);

    const auto result = JsonlParser::parse(line, 11, FileName);
    const InputError *error = errorOf(result);
    QVERIFY(error);
    QCOMPARE(error->message, QStringLiteral("req.jsonl:11: nesting deeper than 64 levels"));
    QCOMPARE(error->customId, QStringLiteral("line-11"));
    QVERIFY(error->input.is_string()); // the raw text, truncated
    QVERIFY(error->input.get<std::string>().size() <= 4096 + 64);
}

void tst_JsonlParser::nestingAtLimitAccepted()
{
    for (int depth : {60, 64}) {
        const QByteArray line = nested(depth);
        const auto result = JsonlParser::parse(line, 1, FileName);
        const Request *request = requestOf(result);
        QVERIFY2(request, qPrintable(QString::number(depth)));
        QCOMPARE(toString(request->format), toString(InputFormat::ChatBody));
        // Walk down to the innermost object to prove the whole depth was built.
        const json *node = &request->input.at("metadata");
        int levels = 2;
        while (node->contains("a")) {
            node = &node->at("a");
            ++levels;
        }
        QCOMPARE(levels, depth);
        QVERIFY(node->is_object() && node->empty());
    }
}

void tst_JsonlParser::customDepthLimit()
{
    const QByteArray line = nested(10);
    QVERIFY(std::holds_alternative<Request>(JsonlParser::parse(line, 1, FileName, 10)));
    const auto result = JsonlParser::parse(line, 1, FileName, 9);
    const InputError *error = errorOf(result);
    QVERIFY(error);
    QCOMPARE(error->message, QStringLiteral("req.jsonl:1: nesting deeper than 9 levels"));
}

void tst_JsonlParser::numbers_data()
{
    QTest::addColumn<QByteArray>("value");
    QTest::addColumn<QString>("error");  // empty: accepted
    QTest::addColumn<QString>("dumped"); // how an accepted value is written back

    // Decision: a float beyond double's range is rejected (nlohmann reports it as out_of_range.406 rather
    // than producing inf, which JSON could not represent anyway). Integers beyond 64 bits become doubles.
    QTest::newRow("1e400") << QByteArray("1e400")
                           << QStringLiteral("invalid JSON: number out of range at column 28 (1e400)")
                           << QString();
    QTest::newRow("-1e400") << QByteArray("-1e400")
                            << QStringLiteral("invalid JSON: number out of range at column 28 (-1e400)")
                            << QString();
    QTest::newRow("1e308") << QByteArray("1e308") << QString() << QStringLiteral("1e+308");
    QTest::newRow("1e-400 underflows to 0") << QByteArray("1e-400") << QString() << QStringLiteral("0.0");
    QTest::newRow("int64 max") << QByteArray("9223372036854775807") << QString()
                               << QStringLiteral("9223372036854775807");
    QTest::newRow("uint64 max") << QByteArray("18446744073709551615") << QString()
                                << QStringLiteral("18446744073709551615");
    QTest::newRow("beyond uint64 becomes double") << QByteArray("123456789012345678901234567890") << QString()
                                                  << QStringLiteral("1.2345678901234568e+29");
    QTest::newRow("negative int") << QByteArray("-42") << QString() << QStringLiteral("-42");
}

void tst_JsonlParser::numbers()
{
    QFETCH(QByteArray, value);
    QFETCH(QString, error);
    QFETCH(QString, dumped);

    const QByteArray line = R"({"input":"x","temperature":)" + value + "}";
    const auto result = JsonlParser::parse(line, 2, FileName);
    if (error.isEmpty()) {
        const Request *request = requestOf(result);
        QVERIFY(request);
        const json &number = request->input.at("temperature");
        QVERIFY(number.is_number());
        if (number.is_number_float())
            QVERIFY(std::isfinite(number.get<double>()));
        QCOMPARE(QString::fromStdString(number.dump()), dumped);
    } else {
        const InputError *inputError = errorOf(result);
        QVERIFY(inputError);
        QCOMPARE(inputError->message, QStringLiteral("req.jsonl:2: ") + error);
    }
}

void tst_JsonlParser::truncatesLongRawInput()
{
    // 10,000 bytes of broken JSON with invalid bytes throughout and a multi-byte character straddling
    // the 4096-byte cut.
    QByteArray line = "{\"input\":\"";
    while (line.size() < 4094)
        line += "ab\xff";
    line.truncate(4094);
    line += "\xe2\x82\xac"; // U+20AC at bytes 4094..4096
    while (line.size() < 10000)
        line += 'x';

    const auto result = JsonlParser::parse(line, 5, FileName);
    const InputError *error = errorOf(result);
    QVERIFY(error);
    QVERIFY(error->input.is_string());
    const QString raw = QString::fromStdString(error->input.get<std::string>());
    const QString note = QStringLiteral("…[truncated, 10000 bytes]");
    QVERIFY2(raw.endsWith(note), qPrintable(raw.right(40)));
    const QString kept = raw.chopped(note.size());
    // Cut before the euro sign rather than through it, with the invalid bytes replaced.
    QCOMPARE(kept, QString::fromUtf8(line.first(4094)));
    QVERIFY(kept.startsWith(QStringLiteral("{\"input\":\"ab\uFFFDab\uFFFD")));
    QVERIFY(kept.endsWith(QLatin1Char('a')));
    QVERIFY(!kept.contains(QChar(0x20AC)));
    QVERIFY(!kept.contains(QLatin1Char('x')));
}

void tst_JsonlParser::messageNamesFileAndLine()
{
    const auto result = JsonlParser::parse("{", 123456, QStringLiteral("batch-01.jsonl"));
    const InputError *error = errorOf(result);
    QVERIFY(error);
    QVERIFY2(error->message.startsWith(QStringLiteral("batch-01.jsonl:123456: invalid JSON: ")),
             qPrintable(error->message));
    QCOMPARE(error->line, qint64(123456));
    QCOMPARE(error->customId, QStringLiteral("line-123456"));
}

void tst_JsonlParser::printable_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("shown");

    QTest::newRow("plain") << QStringLiteral("custom_id") << QStringLiteral("custom_id");
    QTest::newRow("empty") << QString() << QString();
    QTest::newRow("newline, CR, tab") << QStringLiteral("a\nb\rc\td") << QStringLiteral("a\\nb\\rc\\td");
    QTest::newRow("NUL") << QString(QStringLiteral("in") + QChar(0) + QStringLiteral("put"))
                         << QStringLiteral("in\\u0000put");
    QTest::newRow("terminal escape") << QStringLiteral("\x1b[31mred\x1b[0m")
                                     << QStringLiteral("\\u001b[31mred\\u001b[0m");
    QTest::newRow("DEL and C1") << QStringLiteral("a\x7f\u0085b") << QStringLiteral("a\\u007f\\u0085b");
    QTest::newRow("line separators") << QStringLiteral("a\u2028b\u2029c")
                                     << QStringLiteral("a\\u2028b\\u2029c");
    QTest::newRow("bidi override") << QStringLiteral("id\u202Egnp.exe") << QStringLiteral("id\\u202egnp.exe");
    QTest::newRow("non-ASCII kept") << QStringLiteral("r\u00e9q-\u2603-\U0001F600")
                                    << QStringLiteral("r\u00e9q-\u2603-\U0001F600");
    QTest::newRow("40 characters, not cut") << QString(40, QLatin1Char('k')) << QString(40, QLatin1Char('k'));
    QTest::newRow("41 characters, cut")
        << QString(41, QLatin1Char('k')) << QString(40, QLatin1Char('k')) + QStringLiteral("…");
    QTest::newRow("a pair counts as one character and is not split")
        << QString(39, QLatin1Char('k')) + QStringLiteral("\U0001F600\U0001F600")
        << QString(39, QLatin1Char('k')) + QStringLiteral("\U0001F600…");
    QTest::newRow("lone surrogate escaped") << QString(QChar(0xD800)) << QStringLiteral("\\ud800");
}

void tst_JsonlParser::printable()
{
    QFETCH(QString, text);
    QFETCH(QString, shown);
    QCOMPARE(JsonlParser::printable(text), shown);
}

void tst_JsonlParser::messagesRepeatLineTextSafely_data()
{
    // Found by fuzzing (tests/fuzz): messages repeated key names, "method" values and number tokens as
    // they were, so a line could put control characters (NUL, terminal escapes) or megabytes of text
    // into a message.
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<QString>("message"); // after "req.jsonl:3: "

    const QString shapes = QStringLiteral(
        "unknown request shape: expected one of {custom_id, method, url, body} (OpenAI Batch), "
        "{custom_id, params} (Anthropic batch), {messages, ...} (chat body), {input: \"text\"} (prompt); ");
    QTest::newRow("NUL in a key") << QByteArray(R"({"input\u0000": "x"})")
                                  << shapes + QStringLiteral("got keys: input\\u0000");
    QTest::newRow("terminal escape in a key") << QByteArray(R"({"\u001b]0;owned\u0007": 1})")
                                              << shapes + QStringLiteral("got keys: \\u001b]0;owned\\u0007");
    QTest::newRow("newline in a key")
        << QByteArray(R"({"a\nb": 1})") << shapes + QStringLiteral("got keys: a\\nb");
    QTest::newRow("100 KB key") << QByteArray(R"({")") + QByteArray(100000, 'k') + R"(": 1})"
                                << shapes + QStringLiteral("got keys: ") + QString(40, QLatin1Char('k')) +
                                       QStringLiteral("…");
    QTest::newRow("escape in method")
        << QByteArray(R"({"custom_id":"m","method":"GET\r\n\u001b[2J","body":{}})")
        << QStringLiteral("\"method\" must be \"POST\", got \"GET\\r\\n\\u001b[2J\"");
    QTest::newRow("long method") << QByteArray(R"({"custom_id":"m","method":")") + QByteArray(5000, 'G') +
                                        R"(","body":{}})"
                                 << QStringLiteral("\"method\" must be \"POST\", got \"") +
                                        QString(40, QLatin1Char('G')) + QStringLiteral("…\"");
    QTest::newRow("long out-of-range number")
        << QByteArray(R"({"input":"x","n":1)") + QByteArray(400, '0') + "}"
        << QStringLiteral("invalid JSON: number out of range at column 18 (1") +
               QString(39, QLatin1Char('0')) + QStringLiteral("…)");
}

void tst_JsonlParser::messagesRepeatLineTextSafely()
{
    QFETCH(QByteArray, line);
    QFETCH(QString, message);

    const auto result = JsonlParser::parse(line, 3, FileName);
    const InputError *error = errorOf(result);
    QVERIFY(error);
    QCOMPARE(error->message, QStringLiteral("req.jsonl:3: ") + message);
    QVERIFY(error->message.size() < 1024);
}

void tst_JsonlParser::bodyTextAsWritten_data()
{
    QTest::addColumn<QByteArray>("line");
    QTest::addColumn<QByteArray>("bodyText"); // empty: none cut out

    const QByteArray tricky = R"({"model":"m","messages":[{"role":"user","content":"a } { ] [ \" , : b"}],)"
                              R"("n":[1, 2.50, -3e2, true, null], "o": {}})";
    QTest::newRow("OpenAI Batch, spacing and awkward content kept")
        << R"({"custom_id":"a", "method":"POST","url":"/v1/chat/completions","body": )" + tricky + " }"
        << tricky;
    QTest::newRow("OpenAI Batch, body first")
        << QByteArray(R"({"body":{"model":"m","messages":[]},"custom_id":"a"})")
        << QByteArray(R"({"model":"m","messages":[]})");
    QTest::newRow("a nested body key is not the body")
        << QByteArray(R"({"custom_id":"a","url":"/v1/x","meta":{"body":1},"body":{"model":"m"}})")
        << QByteArray(R"({"model":"m"})");
    QTest::newRow("a key with an escape: not cut")
        << QByteArray(R"({"custom_id":"a","url":"/v1/x","b\u006fdy":{"model":"x"},"body":{"model":"m"}})")
        << QByteArray();
    QTest::newRow("a repeated body: not cut (the parsed line keeps the last)")
        << QByteArray(R"({"custom_id":"a","url":"/v1/x","body":{"model":"x"},"body":{"model":"m"}})")
        << QByteArray();
    QTest::newRow("Anthropic batch params")
        << QByteArray(R"({"custom_id":"a","params":{"model":"c","max_tokens":5,"messages":[]}})")
        << QByteArray(R"({"model":"c","max_tokens":5,"messages":[]})");
    QTest::newRow("bare chat body: the whole line, trimmed")
        << QByteArray(R"(  {"model":"m","messages":[{"role":"user","content":"hi"}]} )"
                      "\r")
        << QByteArray(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
    QTest::newRow("bare chat body with metadata: not cut (metadata is dropped before sending)")
        << QByteArray(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"k":1}})")
        << QByteArray();
    QTest::newRow("bare chat body with custom_id: not cut")
        << QByteArray(R"({"custom_id":"a","messages":[{"role":"user","content":"hi"}]})") << QByteArray();
    // A line that starts with a UTF-8 BOM (a second file appended to the first): found by
    // fuzz_jsonlparser, the whole line, BOM and metadata included, was taken for the body.
    QTest::newRow("BOM, bare chat body with metadata: not cut")
        << QByteArray(
               "\xEF\xBB\xBF"
               R"({"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":{"k":[0,null]}})")
        << QByteArray();
    const QByteArray bare = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})";
    QTest::newRow("BOM, bare chat body: cut without the BOM") << "\xEF\xBB\xBF" + bare << bare;
    QTest::newRow("BOM, OpenAI Batch: the body")
        << QByteArray("\xEF\xBB\xBF"
                      R"({"custom_id":"a","url":"/v1/x","body":{"model":"m"}})")
        << QByteArray(R"({"model":"m"})");
    QTest::newRow("prompt: nothing to cut") << QByteArray(R"({"input":"hello"})") << QByteArray();
}

void tst_JsonlParser::bodyTextAsWritten()
{
    QFETCH(QByteArray, line);
    QFETCH(QByteArray, bodyText);
    const auto result = JsonlParser::parse(line, 3, FileName);
    const Request *request = requestOf(result);
    QVERIFY(request);
    QCOMPARE(request->bodyText, bodyText);
    if (!bodyText.isEmpty()) {
        // What is cut out is the body the parsed line holds.
        const json *body = request->format == InputFormat::OpenAIBatch      ? &request->input.at("body")
                           : request->format == InputFormat::AnthropicBatch ? &request->input.at("params")
                                                                            : &request->input;
        QCOMPARE(dumped(json::parse(bodyText.toStdString())), dumped(*body));
    }
}

QTEST_GUILESS_MAIN(tst_JsonlParser)
#include "tst_jsonlparser.moc"
