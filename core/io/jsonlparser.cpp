#include "jsonlparser.h"

#include <QStringList>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace Sluice {

namespace {

using json = nlohmann::json;

// How much of an unparseable line is kept in the error record.
constexpr qsizetype RawInputLimit = 4096;

/// Length of the well-formed UTF-8 sequence starting at `i`, or 0 when the byte there does not start one.
qsizetype utf8SequenceLength(QByteArrayView bytes, qsizetype i)
{
    const auto b0 = static_cast<unsigned char>(bytes[i]);
    if (b0 < 0x80)
        return 1;
    qsizetype len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0)
            lo = 0xA0; // no overlong forms
        else if (b0 == 0xED)
            hi = 0x9F; // no surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0)
            lo = 0x90;
        else if (b0 == 0xF4)
            hi = 0x8F; // nothing past U+10FFFF
    } else {
        return 0;
    }
    if (i + len > bytes.size())
        return 0;
    for (qsizetype k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(bytes[i + k]);
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF))
            return 0;
    }
    return len;
}

/// 1-based column (in characters, an invalid byte counting as one) of the byte that ends at `position`,
/// nlohmann's count of bytes read. Past the end, the column just after the last character.
qint64 columnOf(QByteArrayView bytes, std::size_t position)
{
    const qsizetype end = std::min<qsizetype>(static_cast<qsizetype>(position), bytes.size());
    qint64 column = 0;
    for (qsizetype i = 0; i < end;) {
        i += std::max<qsizetype>(1, utf8SequenceLength(bytes, i));
        ++column;
    }
    if (static_cast<qsizetype>(position) > bytes.size())
        column += static_cast<qint64>(position) - bytes.size();
    return std::max<qint64>(column, 1);
}

/// The raw line as a JSON string for the error record: invalid UTF-8 replaced with U+FFFD, cut at a
/// character boundary after RawInputLimit bytes with a note giving the full size.
json rawInput(QByteArrayView bytes)
{
    if (bytes.size() <= RawInputLimit)
        return QString::fromUtf8(bytes).toStdString();
    qsizetype cut = RawInputLimit;
    // Back off to the start of a multi-byte sequence rather than split it.
    for (int k = 0; k < 3 && cut > 0 && (static_cast<unsigned char>(bytes[cut]) & 0xC0) == 0x80; ++k)
        --cut;
    if ((static_cast<unsigned char>(bytes[cut]) & 0xC0) == 0x80)
        cut = RawInputLimit; // a run of stray continuation bytes: they are replaced anyway
    const QString text = QString::fromUtf8(bytes.first(cut)) + QStringLiteral("…[truncated, ") +
                         QString::number(bytes.size()) + QStringLiteral(" bytes]");
    return text.toStdString();
}

QString typeName(const json &value)
{
    switch (value.type()) {
    case json::value_t::object:
        return QStringLiteral("an object");
    case json::value_t::array:
        return QStringLiteral("an array");
    case json::value_t::string:
        return QStringLiteral("a string");
    case json::value_t::boolean:
        return QStringLiteral("a boolean");
    case json::value_t::null:
        return QStringLiteral("null");
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float:
        return QStringLiteral("a number");
    case json::value_t::binary:
    case json::value_t::discarded:
        break;
    }
    return QStringLiteral("an unsupported value");
}

/// Builds the DOM like nlohmann's own SAX DOM parser, but stops as soon as a container would be nested
/// deeper than the limit, so a hostile line costs neither stack nor memory. nlohmann's parser itself
/// is iterative; only the depth of what we build needs bounding.
class BoundedDomBuilder
{
public:
    using number_integer_t = json::number_integer_t;
    using number_unsigned_t = json::number_unsigned_t;
    using number_float_t = json::number_float_t;
    using string_t = json::string_t;
    using binary_t = json::binary_t;

    explicit BoundedDomBuilder(int maxDepth)
        : m_maxDepth(std::max(1, maxDepth))
    {
    }

    bool null() { return addValue(json(nullptr)); }
    bool boolean(bool value) { return addValue(json(value)); }
    bool number_integer(number_integer_t value) { return addValue(json(value)); }
    bool number_unsigned(number_unsigned_t value) { return addValue(json(value)); }
    bool number_float(number_float_t value, const string_t &) { return addValue(json(value)); }
    bool string(string_t &value) { return addValue(json(std::move(value))); }
    bool binary(binary_t &value) { return addValue(json::binary(std::move(value))); }

    bool start_object(std::size_t) { return openContainer(json::object()); }
    bool key(string_t &name)
    {
        m_pendingKey = std::move(name);
        return true;
    }
    bool end_object()
    {
        m_stack.pop_back();
        return true;
    }
    bool start_array(std::size_t) { return openContainer(json::array()); }
    bool end_array()
    {
        m_stack.pop_back();
        return true;
    }

    bool parse_error(std::size_t position, const std::string &lastToken, const json::exception &error)
    {
        m_errorPosition = position;
        m_errorToken = lastToken;
        m_errorId = error.id;
        m_errorWhat = error.what();
        return false;
    }

    json &root() { return m_root; }
    bool tooDeep() const { return m_tooDeep; }
    std::size_t errorPosition() const { return m_errorPosition; }
    const std::string &errorToken() const { return m_errorToken; }
    int errorId() const { return m_errorId; }
    const std::string &errorWhat() const { return m_errorWhat; }

private:
    json *place(json &&value)
    {
        if (m_stack.empty()) {
            m_root = std::move(value);
            return &m_root;
        }
        json &parent = *m_stack.back();
        if (parent.is_array()) {
            parent.push_back(std::move(value));
            return &parent.back();
        }
        // Duplicate keys: the last one wins, as in nlohmann's own parser.
        json &slot = parent[m_pendingKey];
        slot = std::move(value);
        return &slot;
    }

    bool addValue(json &&value)
    {
        place(std::move(value));
        return true;
    }

    bool openContainer(json &&container)
    {
        if (static_cast<int>(m_stack.size()) >= m_maxDepth) {
            m_tooDeep = true;
            return false;
        }
        m_stack.push_back(place(std::move(container)));
        return true;
    }

    int m_maxDepth;
    json m_root;
    std::vector<json *> m_stack;
    string_t m_pendingKey;
    bool m_tooDeep = false;
    std::size_t m_errorPosition = 0;
    std::string m_errorToken;
    int m_errorId = 0;
    std::string m_errorWhat;
};

/// Short, human reason for a nlohmann parse failure, e.g. "syntax error at column 12 (unexpected '}')".
QString describeParseError(const BoundedDomBuilder &builder, QByteArrayView bytes)
{
    const QString what = QString::fromUtf8(builder.errorWhat());

    if (builder.errorId() == 406) {
        // out_of_range: a float literal beyond double's range, e.g. 1e400. Point at the number's start.
        const std::size_t tokenLength = builder.errorToken().size();
        const std::size_t start = builder.errorPosition() >= tokenLength
                                      ? builder.errorPosition() - tokenLength + 1
                                      : builder.errorPosition();
        return QStringLiteral("number out of range at column ") + QString::number(columnOf(bytes, start)) +
               QStringLiteral(" (") + JsonlParser::printable(QString::fromUtf8(builder.errorToken())) +
               QLatin1Char(')');
    }

    const QString at =
        QStringLiteral(" at column ") + QString::number(columnOf(bytes, builder.errorPosition()));

    // nlohmann's text is "[json.exception.parse_error.101] parse error at line 1, column N: syntax error
    // while parsing <context> - <detail>[; expected <token>]"; keep only the detail.
    const QLatin1String detailMarker(" - ");
    const qsizetype markerPos = what.indexOf(detailMarker);
    if (markerPos < 0)
        return what.section(QLatin1Char(']'), 1).trimmed(); // unknown shape: the message minus its id
    QString detail = what.mid(markerPos + detailMarker.size());
    QString expected;
    const QLatin1String expectedMarker("; expected ");
    const qsizetype expectedPos = detail.lastIndexOf(expectedMarker);
    if (expectedPos >= 0) {
        expected = detail.mid(expectedPos + expectedMarker.size());
        detail.truncate(expectedPos);
    }

    const QLatin1String unexpected("unexpected ");
    if (detail.startsWith(unexpected)) {
        const QString token = detail.mid(unexpected.size());
        if (token == QLatin1String("end of input")) {
            if (bytes.trimmed().isEmpty())
                return QStringLiteral("empty line");
            return QStringLiteral("unexpected end of line") + at + QStringLiteral(" (truncated JSON?)");
        }
        if (expected == QLatin1String("end of input"))
            return QStringLiteral("syntax error") + at + QStringLiteral(" (unexpected ") + token +
                   QStringLiteral(" after the end of the JSON value)");
        return QStringLiteral("syntax error") + at + QStringLiteral(" (unexpected ") + token +
               QLatin1Char(')');
    }

    // A lexer error: "<message>; last read: '<token>'".
    const qsizetype lastReadPos = detail.indexOf(QLatin1String("; last read: "));
    if (lastReadPos >= 0)
        detail.truncate(lastReadPos);
    if (detail.contains(QLatin1String("ill-formed UTF-8")))
        return QStringLiteral("invalid UTF-8") + at;
    if (detail == QLatin1String("invalid literal"))
        return QStringLiteral("syntax error") + at + QStringLiteral(" (not a JSON value)");
    return detail + at;
}

QString keyList(const json &object)
{
    if (object.empty())
        return QStringLiteral("got an empty object");
    QStringList keys;
    constexpr int MaxKeys = 12;
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (keys.size() == MaxKeys) {
            keys.append(QStringLiteral("… (%1 keys)").arg(object.size()));
            break;
        }
        keys.append(JsonlParser::printable(QString::fromStdString(it.key())));
    }
    return QStringLiteral("got keys: ") + keys.join(QStringLiteral(", "));
}

/// Validates the parsed line and fills `request`; returns the reason when it is not a request.
QString detectFormat(const json &line, Request &request)
{
    const bool hasCustomId = line.contains("custom_id");
    if (line.contains("body") && (hasCustomId || line.contains("url") || line.contains("method"))) {
        request.format = InputFormat::OpenAIBatch;
        const json &body = line.at("body");
        if (!body.is_object())
            return QStringLiteral("\"body\" must be an object, got ") + typeName(body);
        if (const auto url = line.find("url"); url != line.end() && !url->is_string())
            return QStringLiteral("\"url\" must be a string, got ") + typeName(*url);
        if (const auto method = line.find("method"); method != line.end()) {
            if (!method->is_string())
                return QStringLiteral("\"method\" must be \"POST\", got ") + typeName(*method);
            const QString name = QString::fromStdString(method->get_ref<const std::string &>());
            if (name.compare(QLatin1String("POST"), Qt::CaseInsensitive) != 0) {
                return QStringLiteral("\"method\" must be \"POST\", got \"") + JsonlParser::printable(name) +
                       QLatin1Char('"');
            }
        }
        return QString();
    }
    if (line.contains("params") && hasCustomId) {
        request.format = InputFormat::AnthropicBatch;
        const json &params = line.at("params");
        if (!params.is_object())
            return QStringLiteral("\"params\" must be an object, got ") + typeName(params);
        return QString();
    }
    if (const auto messages = line.find("messages"); messages != line.end()) {
        request.format = InputFormat::ChatBody;
        if (!messages->is_array())
            return QStringLiteral("\"messages\" must be a non-empty array, got ") + typeName(*messages);
        if (messages->empty())
            return QStringLiteral("\"messages\" must be a non-empty array, got an empty array");
        return QString();
    }
    if (const auto input = line.find("input"); input != line.end()) {
        request.format = InputFormat::Prompt;
        if (!input->is_string())
            return QStringLiteral("\"input\" must be a non-empty string, got ") + typeName(*input);
        if (input->get_ref<const std::string &>().empty())
            return QStringLiteral("\"input\" must be a non-empty string, got an empty string");
        return QString();
    }
    return QStringLiteral("unknown request shape: expected one of {custom_id, method, url, body} (OpenAI "
                          "Batch), {custom_id, params} (Anthropic batch), {messages, ...} (chat body), "
                          "{input: \"text\"} (prompt); ") +
           keyList(line);
}

/// One top-level member of a JSON object, as written.
struct MemberText
{
    QByteArrayView key; ///< between the quotes, escapes not decoded
    bool keyEscaped = false;
    QByteArrayView value;
};

/// The top-level members of `text`, which must hold one valid JSON object (the parser said so) with
/// nothing before its '{' but white space: a structural scan that only tells strings, nesting and
/// separators apart. Nothing when the text does not start so.
std::optional<std::vector<MemberText>> topLevelMembers(QByteArrayView text)
{
    std::vector<MemberText> members;
    const char *p = text.data();
    const char *const end = p + text.size();
    const auto skipSpace = [&] {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            ++p;
    };
    const auto skipString = [&] { // at the opening quote; returns whether it held an escape
        bool escaped = false;
        for (++p; p < end && *p != '"'; ++p) {
            if (*p == '\\') {
                escaped = true;
                ++p;
            }
        }
        ++p; // the closing quote
        return escaped;
    };
    skipSpace();
    if (p == end || *p != '{')
        return std::nullopt;
    ++p;
    for (;;) {
        skipSpace();
        if (p >= end || *p != '"')
            return members; // '}' of an empty object, or the end
        MemberText m;
        const char *keyStart = p + 1;
        m.keyEscaped = skipString();
        m.key = QByteArrayView(keyStart, p - 1 - keyStart);
        skipSpace();
        ++p; // ':'
        skipSpace();
        const char *valueStart = p;
        if (p < end && *p == '"') {
            skipString();
        } else if (p < end && (*p == '{' || *p == '[')) {
            int depth = 0;
            while (p < end) {
                if (*p == '"') {
                    skipString();
                    continue;
                }
                if (*p == '{' || *p == '[')
                    ++depth;
                else if ((*p == '}' || *p == ']') && --depth == 0) {
                    ++p;
                    break;
                }
                ++p;
            }
        } else {
            while (p < end && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
                ++p;
        }
        m.value = QByteArrayView(valueStart, p - valueStart);
        members.push_back(m);
        skipSpace();
        if (p >= end || *p != ',')
            return members;
        ++p;
    }
}

/// Request::bodyText of a valid line of this format (see there).
QByteArray bodyTextOf(QByteArrayView bytes, InputFormat format)
{
    if (format == InputFormat::Prompt)
        return {};
    // The parser skips a UTF-8 BOM before the value (a line of a second file appended to the first);
    // the body sent must not start with one.
    if (bytes.startsWith(QByteArrayView("\xEF\xBB\xBF")))
        bytes = bytes.sliced(3);
    const std::optional<std::vector<MemberText>> scanned = topLevelMembers(bytes);
    if (!scanned)
        return {}; // not cut here: the body is built from the parsed line
    const std::vector<MemberText> &members = *scanned;
    const QByteArrayView wanted = format == InputFormat::OpenAIBatch      ? QByteArrayView("body")
                                  : format == InputFormat::AnthropicBatch ? QByteArrayView("params")
                                                                          : QByteArrayView();
    QByteArrayView found;
    int times = 0;
    for (const MemberText &m : members) {
        if (m.keyEscaped)
            return {}; // "b\u006fdy" is "body" too: leave the cutting to nobody
        if (wanted.isEmpty() && (m.key == QByteArrayView("metadata") || m.key == QByteArrayView("custom_id")))
            return {}; // a bare body loses these before it is sent
        if (!wanted.isEmpty() && m.key == wanted) {
            found = m.value;
            ++times;
        }
    }
    if (wanted.isEmpty())
        return bytes.trimmed().toByteArray();
    return times == 1 ? found.toByteArray() : QByteArray();
}

std::variant<Request, InputError> parseLine(QByteArrayView bytes, qint64 line, const QString &fileName,
                                            int maxDepth)
{
    const QString generatedId = QStringLiteral("line-") + QString::number(line);
    const QString prefix = fileName + QLatin1Char(':') + QString::number(line) + QStringLiteral(": ");
    auto fail = [&](const QString &reason, json input, QString customId = QString()) {
        InputError error;
        error.line = line;
        error.customId = customId.isEmpty() ? generatedId : std::move(customId);
        error.cls = ErrorClass::InvalidInput;
        error.message = prefix + reason;
        error.input = std::move(input);
        return error;
    };

    if (bytes.endsWith('\r'))
        bytes.chop(1);

    // nlohmann's lexer treats a NUL byte as the end of input and would silently ignore what follows;
    // a raw NUL is never valid JSON (inside a string it would need escaping), so reject it here.
    if (const qsizetype nul = bytes.indexOf('\0'); nul >= 0) {
        return fail(QStringLiteral("invalid JSON: NUL byte at column ") +
                        QString::number(columnOf(bytes, nul + 1)),
                    rawInput(bytes));
    }

    BoundedDomBuilder builder(maxDepth);
    const bool parsed = json::sax_parse(bytes.data(), bytes.data() + bytes.size(), &builder);
    if (!parsed) {
        if (builder.tooDeep()) {
            return fail(QStringLiteral("nesting deeper than ") + QString::number(maxDepth) +
                            QStringLiteral(" levels"),
                        rawInput(bytes));
        }
        const QString reason = describeParseError(builder, bytes);
        if (reason == QLatin1String("empty line"))
            return fail(reason, rawInput(bytes));
        return fail(QStringLiteral("invalid JSON: ") + reason, rawInput(bytes));
    }

    json &value = builder.root();
    if (!value.is_object()) {
        QString kind = QStringLiteral("JSON null");
        if (value.is_array())
            kind = QStringLiteral("a JSON array");
        else if (value.is_string())
            kind = QStringLiteral("a JSON string");
        else if (value.is_number())
            kind = QStringLiteral("a JSON number");
        else if (value.is_boolean())
            kind = QStringLiteral("a JSON boolean");
        return fail(QStringLiteral("line is ") + kind + QStringLiteral(", expected an object"),
                    std::move(value));
    }

    QString customId;
    if (const auto id = value.find("custom_id"); id != value.end()) {
        if (!id->is_string()) {
            const QString reason = QStringLiteral("custom_id must be a string, got ") + typeName(*id);
            return fail(reason, std::move(value));
        }
        customId = QString::fromStdString(id->get_ref<const std::string &>());
        if (customId.isEmpty())
            return fail(QStringLiteral("custom_id must not be empty"), std::move(value));
    }

    Request request;
    request.line = line;
    request.customId = customId.isEmpty() ? generatedId : customId;
    const QString reason = detectFormat(value, request);
    if (!reason.isEmpty())
        return fail(reason, std::move(value), customId);
    request.input = std::move(value);
    request.bodyText = bodyTextOf(bytes, request.format);
    return request;
}

} // namespace

QString JsonlParser::printable(QStringView text, qsizetype maxChars)
{
    QString out;
    out.reserve(std::min(text.size(), maxChars) + 8);
    qsizetype shown = 0;
    for (qsizetype i = 0; i < text.size(); ++i) {
        if (shown == maxChars) {
            out += QStringLiteral("…");
            break;
        }
        const QChar c = text.at(i);
        const char16_t u = c.unicode();
        ++shown;
        if (c.isHighSurrogate() && i + 1 < text.size() && text.at(i + 1).isLowSurrogate()) {
            out += c;
            out += text.at(++i);
            continue;
        }
        const bool control = u < 0x20 || (u >= 0x7F && u < 0xA0);
        const bool separator = u == 0x2028 || u == 0x2029;
        const bool bidi = (u >= 0x202A && u <= 0x202E) || (u >= 0x2066 && u <= 0x2069) || u == 0x200E ||
                          u == 0x200F || u == 0x061C;
        if (u == '\n') {
            out += QStringLiteral("\\n");
        } else if (u == '\r') {
            out += QStringLiteral("\\r");
        } else if (u == '\t') {
            out += QStringLiteral("\\t");
        } else if (control || separator || bidi || c.isSurrogate()) {
            out += QStringLiteral("\\u") + QString::number(u, 16).rightJustified(4, QLatin1Char('0'));
        } else {
            out += c;
        }
    }
    return out;
}

std::variant<Request, InputError> JsonlParser::parse(QByteArrayView bytes, qint64 line,
                                                     const QString &fileName, int maxDepth)
{
    try {
        return parseLine(bytes, line, fileName, maxDepth);
    } catch (const std::exception &e) {
        // Only allocation failures and the like can get here; the parser reports JSON errors itself.
        InputError error;
        error.line = line;
        error.customId = QStringLiteral("line-") + QString::number(line);
        error.message = fileName + QLatin1Char(':') + QString::number(line) +
                        QStringLiteral(": cannot parse: ") + QString::fromUtf8(e.what());
        return error;
    } catch (...) {
        InputError error;
        error.line = line;
        error.customId = QStringLiteral("line-") + QString::number(line);
        error.message =
            fileName + QLatin1Char(':') + QString::number(line) + QStringLiteral(": cannot parse");
        return error;
    }
}

} // namespace Sluice
