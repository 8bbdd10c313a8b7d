// libFuzzer target for JsonlParser::parse: one fuzz input is one line, as JsonlReader hands it over.
// Besides "no crash, no sanitizer report, no exception", it checks the parser's contract on every input
// and compares its verdict with nlohmann's own validator. A broken check aborts with a message, which
// libFuzzer reports as a crash with the input saved as a reproducer.

#include "io/jsonlparser.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace Sluice;
using json = nlohmann::json;

namespace {

constexpr qint64 Line = 7;
const QString FileName = QStringLiteral("fuzz.jsonl");
const QString Prefix = QStringLiteral("fuzz.jsonl:7: ");
// An error message names the file and line and a reason; it echoes at most a short excerpt of the
// line, never the line itself.
constexpr qsizetype MaxMessageChars = 1024;
// The raw text kept for an unparseable line, as serialized in its error record: 4 KiB of input plus
// the truncation note, where each byte may grow to six (a control character written as \u00XX; an
// invalid byte becomes a 3-byte U+FFFD). Six, not three, since a fuzz finding: a line of NUL bytes.
constexpr std::size_t MaxRawInputBytes = 6 * 4096 + 64;

[[noreturn]] void broken(const char *what, const QString &detail)
{
    std::fprintf(stderr, "fuzz_jsonlparser: contract broken: %s: %s\n", what,
                 detail.left(300).toUtf8().constData());
    std::abort();
}

void check(bool ok, const char *what, const QString &detail = QString())
{
    if (!ok)
        broken(what, detail);
}

/// Depth of the deepest container in a JSON text nlohmann accepts (the top level counts as 1).
struct DepthCounter
{
    int depth = 0;
    int maxDepth = 0;
    bool null() { return true; }
    bool boolean(bool) { return true; }
    bool number_integer(json::number_integer_t) { return true; }
    bool number_unsigned(json::number_unsigned_t) { return true; }
    bool number_float(json::number_float_t, const json::string_t &) { return true; }
    bool string(json::string_t &) { return true; }
    bool binary(json::binary_t &) { return true; }
    bool start_object(std::size_t) { return open(); }
    bool key(json::string_t &) { return true; }
    bool end_object() { return close(); }
    bool start_array(std::size_t) { return open(); }
    bool end_array() { return close(); }
    bool parse_error(std::size_t, const std::string &, const json::exception &) { return false; }
    bool open()
    {
        maxDepth = std::max(maxDepth, ++depth);
        return true;
    }
    bool close()
    {
        --depth;
        return true;
    }
};

/// Every JSON value the parser hands out is written to a file later: it must serialise with the strict
/// (throwing) UTF-8 handler.
std::string dumpStrict(const json &value, const char *what)
{
    try {
        return value.dump();
    } catch (const std::exception &e) {
        broken(what, QString::fromUtf8(e.what()));
    }
}

void checkMessage(const InputError &error)
{
    check(error.message.startsWith(Prefix), "message names file and line", error.message);
    check(error.message.size() > Prefix.size(), "message gives a reason", error.message);
    check(error.message.size() <= MaxMessageChars, "message is short", QString::number(error.message.size()));
    for (const QChar c : error.message) {
        // Messages reach terminals and log lines: no control characters (escape sequences, newlines).
        check(c.unicode() >= 0x20 && c.unicode() != 0x7F && !(c.unicode() >= 0x80 && c.unicode() < 0xA0),
              "message has no control characters", error.message);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const QByteArrayView bytes(reinterpret_cast<const char *>(data), qsizetype(size));
    const auto result = JsonlParser::parse(bytes, Line, FileName);

    bool parsedAsJson = false; // the parser accepted the text as JSON (whatever its shape)
    bool tooDeep = false;
    if (const auto *request = std::get_if<Request>(&result)) {
        check(request->line == Line, "request line");
        check(!request->customId.isEmpty(), "request has an id");
        check(request->input.is_object(), "request input is an object");
        parsedAsJson = true;
        // What a request holds re-reads as the same request: the format and id do not depend on how
        // the line was spelled.
        const std::string again = dumpStrict(request->input, "request input serialises");
        const auto reparsed =
            JsonlParser::parse(QByteArrayView(again.data(), qsizetype(again.size())), Line, FileName);
        const auto *same = std::get_if<Request>(&reparsed);
        check(same != nullptr, "a request re-reads as a request", QString::fromStdString(again));
        check(same->format == request->format, "same format on re-read");
        check(same->customId == request->customId, "same id on re-read");
        // The body text cut out of the line (sent as is when nothing needs changing) is the body the
        // parsed line holds.
        if (!request->bodyText.isEmpty()) {
            const json *body = request->format == InputFormat::OpenAIBatch      ? &request->input.at("body")
                               : request->format == InputFormat::AnthropicBatch ? &request->input.at("params")
                                                                                : &request->input;
            check(request->format != InputFormat::Prompt, "no body text for a prompt");
            const json cut =
                json::parse(request->bodyText.constData(),
                            request->bodyText.constData() + request->bodyText.size(), nullptr, false);
            check(!cut.is_discarded() && cut == *body, "body text is the parsed body",
                  QString::fromUtf8(request->bodyText));
            check(!request->bodyText.startsWith("\xEF\xBB\xBF"), "body text does not start with a BOM",
                  QString::fromUtf8(request->bodyText));
            if (request->format == InputFormat::ChatBody) {
                check(!body->contains("metadata") && !body->contains("custom_id"),
                      "a bare body's text has nothing buildBody would drop");
            }
        }
    } else {
        const auto &error = std::get<InputError>(result);
        check(error.line == Line, "error line");
        check(!error.customId.isEmpty(), "error has an id");
        check(error.cls == ErrorClass::InvalidInput, "error class");
        checkMessage(error);
        const std::string input = dumpStrict(error.input, "error input serialises");
        const QString reason = error.message.mid(Prefix.size());
        tooDeep = reason.startsWith(QLatin1String("nesting deeper than "));
        const bool unparsed = tooDeep || reason.startsWith(QLatin1String("invalid JSON: ")) ||
                              reason == QLatin1String("empty line");
        if (unparsed) {
            check(error.input.is_string(), "an unparsed line keeps its raw text");
            check(input.size() <= MaxRawInputBytes + 2, "raw text is cut", QString::number(input.size()));
        } else {
            parsedAsJson = true;
        }
    }

    // Differential check against nlohmann's validator (skipped for NUL bytes, which nlohmann's lexer
    // takes for the end of input and the parser rejects on purpose).
    if (!bytes.contains('\0')) {
        DepthCounter depth;
        const bool accepted = json::sax_parse(bytes.data(), bytes.data() + bytes.size(), &depth);
        if (accepted) {
            check(parsedAsJson || (tooDeep && depth.maxDepth > JsonlParser::DefaultMaxDepth),
                  "valid JSON is parsed");
        } else {
            check(!parsedAsJson, "invalid JSON is rejected");
        }
        if (parsedAsJson)
            check(depth.maxDepth <= JsonlParser::DefaultMaxDepth, "depth limit holds");
    }
    return 0;
}
