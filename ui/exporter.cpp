#include "exporter.h"

#include "cost/costestimate.h"
#include "summarypanel.h"

#include <QBuffer>
#include <QDateTime>
#include <QFile>
#include <QFileInfo>
#include <QSaveFile>
#include <QUrl>

#include <nlohmann/json.hpp>

#include <functional>
#include <initializer_list>

namespace Sluice::Gui {

using json = nlohmann::json;

namespace {

constexpr qint64 s_flushBytes = 1 << 20; // output is written in chunks of about this size

Error ioError(const QString &path, const QString &reason)
{
    return Error{Error::Code::Io, QStringLiteral("%1: %2").arg(path, reason), 0};
}

/// True when both names point at one existing file (so writing one would clobber the other).
bool sameFile(const QString &a, const QString &b)
{
    const QString ca = QFileInfo(a).canonicalFilePath();
    return !ca.isEmpty() && ca == QFileInfo(b).canonicalFilePath();
}

/// Parses one JSONL line. Invalid UTF-8 inside strings makes nlohmann reject the line, so such a line is
/// parsed again with the bad bytes replaced by U+FFFD. Returns a discarded value when it is not JSON.
json parseLine(const QByteArray &line)
{
    json value = json::parse(line.constBegin(), line.constEnd(), nullptr, false);
    if (value.is_discarded()) {
        const QByteArray clean = QString::fromUtf8(line).toUtf8();
        if (clean != line)
            value = json::parse(clean.constBegin(), clean.constEnd(), nullptr, false);
    }
    return value;
}

QByteArray dumpCompact(const json &value)
{
    return QByteArray::fromStdString(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

/// A JSON value as CSV cell text: strings as they are, null and missing as empty, the rest compact JSON.
QByteArray cellText(const json *value)
{
    if (!value || value->is_null() || value->is_discarded())
        return {};
    if (value->is_string())
        return QByteArray::fromStdString(value->get_ref<const std::string &>());
    return dumpCompact(*value);
}

const json *member(const json *object, const char *key)
{
    if (!object || !object->is_object())
        return nullptr;
    const auto it = object->find(key);
    return it == object->end() ? nullptr : &*it;
}

const json *firstMember(const json *object, std::initializer_list<const char *> keys)
{
    for (const char *key : keys) {
        const json *value = member(object, key);
        if (value && !value->is_null())
            return value;
    }
    return nullptr;
}

/// Concatenates the "text" of every text block (Anthropic content, OpenAI content parts). Blocks are
/// joined without a separator: Anthropic splits one answer into several blocks (e.g. around citations).
QByteArray joinedText(const json &blocks)
{
    QByteArray text;
    for (const json &block : blocks) {
        const json *piece = member(&block, "text");
        if (piece && piece->is_string())
            text += QByteArray::fromStdString(piece->get_ref<const std::string &>());
    }
    return text;
}

/// The answer text of a response body: OpenAI choices[0].message.content, or Anthropic content[*].text.
QByteArray contentText(const json *body)
{
    if (const json *choices = member(body, "choices"); choices && choices->is_array() && !choices->empty()) {
        const json *content = member(member(&choices->front(), "message"), "content");
        if (content && content->is_string())
            return QByteArray::fromStdString(content->get_ref<const std::string &>());
        if (content && content->is_array())
            return joinedText(*content);
        return {};
    }
    if (const json *content = member(body, "content")) {
        if (content->is_array())
            return joinedText(*content);
        if (content->is_string())
            return QByteArray::fromStdString(content->get_ref<const std::string &>());
    }
    return {};
}

void appendCsvCell(QByteArray &out, const QByteArray &cell)
{
    const bool quote = cell.contains(',') || cell.contains('"') || cell.contains('\r') || cell.contains('\n');
    if (!quote) {
        out += cell;
        return;
    }
    out += '"';
    for (const char c : cell) {
        if (c == '"')
            out += '"';
        out += c;
    }
    out += '"';
}

void appendCsvRow(QByteArray &out, std::initializer_list<QByteArray> cells)
{
    bool first = true;
    for (const QByteArray &cell : cells) {
        if (!first)
            out += ',';
        first = false;
        appendCsvCell(out, cell);
    }
    out += "\r\n"; // RFC 4180 record separator
}

/// Streams a JSONL file into a CSV file, one row per JSON object; other lines are skipped.
Result<void> jsonlToCsv(const QString &jsonlPath, const QString &csvPath, const QByteArray &header,
                        const std::function<void(QByteArray &, const json &)> &row)
{
    if (sameFile(jsonlPath, csvPath))
        return ioError(csvPath, QStringLiteral("the CSV would overwrite its own source"));
    QFile in(jsonlPath);
    if (!in.open(QIODevice::ReadOnly))
        return ioError(jsonlPath, QStringLiteral("cannot open: %1").arg(in.errorString()));
    QSaveFile out(csvPath);
    if (!out.open(QIODevice::WriteOnly))
        return ioError(csvPath, QStringLiteral("cannot write: %1").arg(out.errorString()));

    QByteArray buffer = header;
    buffer += "\r\n";
    auto flush = [&]() {
        const bool written = out.write(buffer) == buffer.size();
        buffer.clear();
        return written;
    };
    while (!in.atEnd()) {
        const QByteArray line = in.readLine();
        if (line.isEmpty() && in.error() != QFileDevice::NoError)
            return ioError(jsonlPath, QStringLiteral("cannot read: %1").arg(in.errorString()));
        if (line.trimmed().isEmpty())
            continue;
        const json record = parseLine(line);
        if (!record.is_object())
            continue;
        row(buffer, record);
        if (buffer.size() >= s_flushBytes && !flush())
            return ioError(csvPath, QStringLiteral("cannot write: %1").arg(out.errorString()));
    }
    if (!flush() || !out.commit())
        return ioError(csvPath, QStringLiteral("cannot write: %1").arg(out.errorString()));
    return {};
}

QString esc(const QString &text)
{
    return text.toHtmlEscaped().replace(QLatin1Char('\''), QStringLiteral("&#39;"));
}

/// scheme://host:port/path only: user-info, query and fragment may carry credentials.
QString safeUrl(const QUrl &url)
{
    if (!url.isValid())
        return {};
    QString text = url.scheme() + QStringLiteral("://") + url.host(QUrl::FullyEncoded);
    if (url.port() != -1)
        text += QLatin1Char(':') + QString::number(url.port());
    return text + url.path(QUrl::FullyEncoded);
}

QString num(qint64 value)
{
    return QString::number(value);
}

QString num(double value, int decimals = 1)
{
    return QString::number(value, 'f', decimals);
}

QString duration(double ms)
{
    if (ms < 60'000)
        return num(ms / 1000.0) + QStringLiteral(" s");
    const qint64 s = qint64(ms / 1000.0);
    return QStringLiteral("%1:%2:%3")
        .arg(s / 3600)
        .arg((s / 60) % 60, 2, 10, QLatin1Char('0'))
        .arg(s % 60, 2, 10, QLatin1Char('0'));
}

/// The current local time in ISO 8601 with its UTC offset, so a shared report is unambiguous.
QString localTimestamp()
{
    const QDateTime now = QDateTime::currentDateTime();
    return now.toOffsetFromUtc(now.offsetFromUtc()).toString(Qt::ISODate);
}

QString limitText(const EndpointStats &e)
{
    QStringList parts;
    if (e.limitRps > 0)
        parts << num(e.limitRps, 2) + QStringLiteral(" req/s");
    if (e.limitTps > 0)
        parts << num(e.limitTps, 0) + QStringLiteral(" tok/s");
    QString text = parts.isEmpty() ? QStringLiteral("unlimited") : parts.join(QStringLiteral(", "));
    text += QStringLiteral(" (") + e.limitReasonText() + QLatin1Char(')');
    return text;
}

QString cells(std::initializer_list<QString> values, const QString &tag = QStringLiteral("td"))
{
    QString row = QStringLiteral("<tr>");
    for (const QString &v : values)
        row += QLatin1Char('<') + tag + QLatin1Char('>') + v + QStringLiteral("</") + tag + QLatin1Char('>');
    return row + QStringLiteral("</tr>\n");
}

QString numCell(const QString &value)
{
    return QStringLiteral("<span class=\"n\">") + value + QStringLiteral("</span>");
}

const char *s_css = R"(
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1c1e21; --muted: #5f6670; --line: #d8dce1;
        --head: #f1f3f5; --accent: #2f6fdf; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #17191c; --fg: #e4e6e9; --muted: #9aa2ad; --line: #33373d; --head: #22252a;
          --accent: #7aa7f5; }
}
body { background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid var(--line); padding-bottom: 0.2em; }
.meta { color: var(--muted); margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid var(--line); padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: var(--head); }
.n { font-variant-numeric: tabular-nums; }
dl.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 0.6em; }
dl.summary div { border: 1px solid var(--line); border-radius: 6px; padding: 0.5em 0.7em; }
dl.summary dt { color: var(--muted); font-size: 0.85em; }
dl.summary dd { margin: 0; font-size: 1.25em; font-variant-numeric: tabular-nums; }
img.charts { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
code { color: var(--accent); }
)";

} // namespace

Result<void> Exporter::resultsToCsv(const QString &resultsJsonl, const QString &csvPath)
{
    return jsonlToCsv(resultsJsonl, csvPath,
                      "custom_id,line,status_code,endpoint,attempts,latency_ms,model,input_tokens,"
                      "output_tokens,content",
                      [](QByteArray &out, const json &r) {
                          const json *response = member(&r, "response");
                          const json *body = member(response, "body");
                          const json *usage = member(body, "usage");
                          appendCsvRow(out,
                                       {cellText(member(&r, "custom_id")), cellText(member(&r, "line")),
                                        cellText(member(response, "status_code")),
                                        cellText(member(&r, "endpoint")), cellText(member(&r, "attempts")),
                                        cellText(member(&r, "latency_ms")), cellText(member(body, "model")),
                                        cellText(firstMember(usage, {"prompt_tokens", "input_tokens"})),
                                        cellText(firstMember(usage, {"completion_tokens", "output_tokens"})),
                                        contentText(body)});
                      });
}

Result<void> Exporter::errorsToCsv(const QString &errorsJsonl, const QString &csvPath)
{
    return jsonlToCsv(errorsJsonl, csvPath, "custom_id,line,error_class,status,attempts,endpoint,error,input",
                      [](QByteArray &out, const json &r) {
                          appendCsvRow(out,
                                       {cellText(member(&r, "custom_id")), cellText(member(&r, "line")),
                                        cellText(member(&r, "error_class")), cellText(member(&r, "status")),
                                        cellText(member(&r, "attempts")), cellText(member(&r, "endpoint")),
                                        cellText(member(&r, "error")), cellText(member(&r, "input"))});
                      });
}

Result<void> Exporter::copyFile(const QString &from, const QString &to)
{
    if (sameFile(from, to))
        return {}; // already there; removing the destination first would lose the source
    QFile in(from);
    if (!in.open(QIODevice::ReadOnly))
        return ioError(from, QStringLiteral("cannot open: %1").arg(in.errorString()));
    // QSaveFile replaces the destination only once the whole copy is written.
    QSaveFile out(to);
    if (!out.open(QIODevice::WriteOnly))
        return ioError(to, QStringLiteral("cannot copy %1 here: %2").arg(from, out.errorString()));
    while (!in.atEnd()) {
        const QByteArray chunk = in.read(s_flushBytes);
        if (chunk.isEmpty() && in.error() != QFileDevice::NoError)
            return ioError(from, QStringLiteral("cannot read: %1").arg(in.errorString()));
        if (out.write(chunk) != chunk.size())
            return ioError(to, QStringLiteral("cannot copy %1 here: %2").arg(from, out.errorString()));
    }
    if (!out.commit())
        return ioError(to, QStringLiteral("cannot copy %1 here: %2").arg(from, out.errorString()));
    return {};
}

Result<void> Exporter::htmlReport(const QString &path, const Sluice::MetricsSnapshot &summary,
                                  const Sluice::ProjectConfig &project, const QImage &charts,
                                  const QString &requestsPath)
{
    const QString title = QStringLiteral("Sluice run report");
    QString html;
    html += QStringLiteral("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                           "<meta name=\"color-scheme\" content=\"light dark\">\n<title>") +
            title + QStringLiteral("</title>\n<style>") + QString::fromUtf8(s_css) +
            QStringLiteral("</style>\n</head>\n<body>\n<h1>") + title + QStringLiteral("</h1>\n");

    const QString input =
        requestsPath.isEmpty() ? QStringLiteral("(none)") : QFileInfo(requestsPath).fileName();
    html += QStringLiteral("<p class=\"meta\">Input <code>") + esc(input) + QStringLiteral("</code> · ") +
            esc(toString(summary.state)) + QStringLiteral(" · generated ") + esc(localTimestamp()) +
            QStringLiteral(" by Sluice ") + QStringLiteral(SLUICE_VERSION) + QStringLiteral("</p>\n");

    // Summary.
    html += QStringLiteral("<h2>Summary</h2>\n<dl class=\"summary\">\n");
    auto item = [&html](const QString &label, const QString &value) {
        html += QStringLiteral("<div><dt>") + label + QStringLiteral("</dt><dd>") + value +
                QStringLiteral("</dd></div>\n");
    };
    item(QStringLiteral("Lines"), num(summary.linesRead));
    item(QStringLiteral("Succeeded"), num(summary.succeeded));
    item(QStringLiteral("Failed"), num(summary.failed));
    item(QStringLiteral("Error rate (lines)"),
         QString::number(SummaryPanel::errorRatePercent(summary), 'f', 2) + QStringLiteral(" %"));
    item(QStringLiteral("Error rate (attempts)"),
         QString::number(SummaryPanel::attemptErrorRatePercent(summary), 'f', 2) + QStringLiteral(" %"));
    if (summary.invalidLines > 0)
        item(QStringLiteral("Invalid lines"), num(summary.invalidLines));
    if (summary.notStarted > 0)
        item(QStringLiteral("Not started"), num(summary.notStarted));
    item(QStringLiteral("Attempts"), num(summary.issued));
    item(QStringLiteral("Retries"), num(summary.retries));
    item(QStringLiteral("429s"), num(summary.rateLimited));
    item(QStringLiteral("Overflow"), num(summary.overflow));
    item(QStringLiteral("Requests/s"), num(summary.averageRps, 2));
    item(QStringLiteral("p50 latency"), num(summary.p50Ms) + QStringLiteral(" ms"));
    item(QStringLiteral("p90 latency"), num(summary.p90Ms) + QStringLiteral(" ms"));
    item(QStringLiteral("p99 latency"), num(summary.p99Ms) + QStringLiteral(" ms"));
    item(QStringLiteral("Input tokens"), num(summary.inputTokens));
    item(QStringLiteral("Output tokens"), num(summary.outputTokens));
    item(QStringLiteral("Elapsed"), duration(summary.elapsedMs));
    const CostStats &cost = summary.cost;
    item(QStringLiteral("Spent"), esc(CostEstimate::formatUsd(cost.spentUsd)));
    if (cost.earlierUsd > 0)
        item(QStringLiteral("Spent before the resume"), esc(CostEstimate::formatUsd(cost.earlierUsd)));
    if (cost.budgetUsd > 0)
        item(QStringLiteral("Budget"),
             esc(CostEstimate::formatUsd(cost.budgetUsd)) + QStringLiteral(" (") +
                 num(100.0 * cost.runSpentUsd() / cost.budgetUsd, 1) + QStringLiteral(" % used") +
                 (cost.budgetReached ? QStringLiteral(", reached") : QString()) + QStringLiteral(")"));
    if (cost.unpricedReplies > 0)
        item(QStringLiteral("Unpriced replies"),
             num(cost.unpricedReplies) + QStringLiteral(" (not in the spend)"));
    html += QStringLiteral("</dl>\n");

    // Per-endpoint table; the URL comes from the project, matched by name.
    html += QStringLiteral("<h2>Endpoints</h2>\n<table>\n");
    html +=
        cells({QStringLiteral("Name"), QStringLiteral("URL"), QStringLiteral("Weight"),
               QStringLiteral("Sent"), QStringLiteral("OK"), QStringLiteral("429"), QStringLiteral("Errors"),
               QStringLiteral("p50 ms"), QStringLiteral("p90 ms"), QStringLiteral("p99 ms"),
               QStringLiteral("Cost $"), QStringLiteral("State"), QStringLiteral("Limit")},
              QStringLiteral("th"));
    for (const EndpointStats &e : summary.endpoints) {
        QString url;
        for (const EndpointConfig &config : project.endpoints) {
            if (config.name == e.name) {
                url = safeUrl(config.url);
                break;
            }
        }
        html +=
            cells({esc(e.name), esc(url), numCell(QString::number(e.weight)), numCell(num(e.sent)),
                   numCell(num(e.ok)), numCell(num(e.rateLimited)), numCell(num(e.errors)),
                   numCell(num(e.p50Ms)), numCell(num(e.p90Ms)), numCell(num(e.p99Ms)),
                   numCell(QString::number(e.costSpentUsd, 'f', 4)), esc(e.stateText()), esc(limitText(e))});
    }
    html += QStringLiteral("</table>\n");

    // Errors by class.
    html += QStringLiteral("<h2>Errors by class</h2>\n");
    if (summary.errorsByClass.isEmpty()) {
        html += QStringLiteral("<p>No errors.</p>\n");
    } else {
        html += QStringLiteral("<table>\n") +
                cells({QStringLiteral("Class"), QStringLiteral("Count")}, QStringLiteral("th"));
        for (auto it = summary.errorsByClass.cbegin(); it != summary.errorsByClass.cend(); ++it)
            html += cells({esc(it.key()), numCell(num(it.value()))});
        html += QStringLiteral("</table>\n");
    }

    // Charts.
    if (!charts.isNull()) {
        QByteArray png;
        QBuffer buffer(&png);
        buffer.open(QIODevice::WriteOnly);
        if (charts.save(&buffer, "PNG")) {
            html += QStringLiteral("<h2>Charts</h2>\n<img class=\"charts\" alt=\"Run charts\" width=\"") +
                    num(qint64(charts.width())) + QStringLiteral("\" height=\"") +
                    num(qint64(charts.height())) + QStringLiteral("\" src=\"data:image/png;base64,") +
                    QString::fromLatin1(png.toBase64()) + QStringLiteral("\">\n");
        }
    }
    html += QStringLiteral("</body>\n</html>\n");

    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return ioError(path, QStringLiteral("cannot write: %1").arg(file.errorString()));
    const QByteArray bytes = html.toUtf8();
    if (file.write(bytes) != bytes.size() || !file.commit())
        return ioError(path, QStringLiteral("cannot write: %1").arg(file.errorString()));
    return {};
}

Result<void> Exporter::savePng(const QImage &image, const QString &path)
{
    if (image.isNull())
        return ioError(path, QStringLiteral("no image to save"));
    // QImage::save(path) gives no reason on failure; writing through QSaveFile does.
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return ioError(path, QStringLiteral("cannot write: %1").arg(file.errorString()));
    if (!image.save(&file, "PNG")) {
        file.cancelWriting();
        return ioError(path, QStringLiteral("cannot encode the image as PNG"));
    }
    if (!file.commit())
        return ioError(path, QStringLiteral("cannot write: %1").arg(file.errorString()));
    return {};
}

} // namespace Sluice::Gui
