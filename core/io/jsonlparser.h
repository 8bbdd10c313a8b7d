#pragma once

#include "io/errorclass.h"
#include "io/request.h"

#include <QByteArrayView>
#include <QString>

#include <nlohmann/json.hpp>

#include <variant>

namespace Sluice {

/// A line that cannot become a request. Written to the errors file as one record.
struct InputError
{
    qint64 line = 0;                           ///< 1-based line number
    QString customId;                          ///< from the line when it had one, else "line-N"
    ErrorClass cls = ErrorClass::InvalidInput; ///< InvalidInput or DuplicateId
    QString message;                           ///< "<file>:<line>: <reason>", precise and human-readable
    nlohmann::json input; ///< the parsed line when it parsed, else the raw text as a string (truncated
                          ///< to 4 KiB with a note when longer, invalid UTF-8 replaced)
};

/// Turns one JSONL line into a Request, detecting its format. Pure and stateless (no duplicate
/// detection: that is JsonlReader's job), so it can be fuzzed on its own.
class JsonlParser
{
public:
    static constexpr int DefaultMaxDepth = 64;

    /// `bytes` is one line without its line terminator (a trailing '\r' is tolerated and ignored);
    /// `line` is its 1-based number; `fileName` is used only in messages. The line must not be blank.
    /// Never throws: every nlohmann exception is caught here and becomes an InputError.
    static std::variant<Request, InputError> parse(QByteArrayView bytes, qint64 line, const QString &fileName,
                                                   int maxDepth = DefaultMaxDepth);

    /// `text` made safe to quote in a one-line message: control characters, line separators and
    /// bidirectional formatting characters escaped (`\n`, `\u001b`, ...), cut after `maxChars`
    /// characters with "…". Every piece of a line that an error message repeats goes through it, so a
    /// hostile line can neither flood a message nor put escape sequences on a terminal.
    static QString printable(QStringView text, qsizetype maxChars = DefaultPrintableChars);
    static constexpr qsizetype DefaultPrintableChars = 40;
};

} // namespace Sluice
