#include "journal.h"

#include "config/projectconfig.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QFileInfo>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <unistd.h>

namespace Sluice {

using json = nlohmann::json;

namespace {

constexpr qint64 FullHashLimit = 64LL * 1024 * 1024;
constexpr qint64 EdgeBytes = 16LL * 1024 * 1024;
constexpr qint64 SampleBytes = 4096;
constexpr int Samples = 256;

Error ioError(const QString &message)
{
    return Error{Error::Code::Io, message, 0};
}

Error resumeError(const QString &message)
{
    return Error{Error::Code::InvalidConfig, message, 0};
}

QString fileName(const QString &path)
{
    return QFileInfo(path).fileName();
}

bool hashRange(QFile &file, qint64 offset, qint64 length, QCryptographicHash &hash)
{
    if (!file.seek(offset)) {
        return false;
    }
    QByteArray chunk(qsizetype(std::min<qint64>(length, 1 << 20)), Qt::Uninitialized);
    while (length > 0) {
        const qint64 n = file.read(chunk.data(), std::min<qint64>(length, chunk.size()));
        if (n <= 0) {
            return false;
        }
        hash.addData(QByteArrayView(chunk.constData(), n));
        length -= n;
    }
    return true;
}

/// One parsed journal line and where it starts.
struct Entry
{
    json value;
    qint64 offset = 0;
};

/// Reads the journal's lines. A last line that is unterminated or does not parse is torn: reported
/// by `tornAt` (its offset), not returned. A damaged line before the last is an error.
Result<std::vector<Entry>> readEntries(const QString &path, qint64 *tornAt)
{
    *tornAt = -1;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return ioError(path + QStringLiteral(": cannot read the journal: ") + file.errorString());
    }
    const QByteArray data = file.readAll();
    std::vector<Entry> entries;
    qsizetype pos = 0;
    int lineNumber = 0;
    while (pos < data.size()) {
        ++lineNumber;
        const qsizetype nl = data.indexOf('\n', pos);
        const bool terminated = nl >= 0;
        const qsizetype end = terminated ? nl : data.size();
        json value = json::parse(data.constData() + pos, data.constData() + end, nullptr, false);
        const bool last = !terminated || end + 1 >= data.size();
        if (value.is_discarded() || !value.is_object() || !terminated) {
            if (last) {
                *tornAt = pos;
                break;
            }
            return resumeError(QStringLiteral("%1:%2: the journal is damaged (not a JSON object)")
                                   .arg(fileName(path))
                                   .arg(lineNumber));
        }
        entries.push_back({std::move(value), pos});
        pos = end + 1;
    }
    if (entries.empty() || entries.front().value.value("sluice_journal", 0) != Journal::FormatVersion) {
        return resumeError(QStringLiteral("%1:1: not a Sluice journal (format %2)")
                               .arg(fileName(path))
                               .arg(Journal::FormatVersion));
    }
    return entries;
}

Result<void> truncateFile(const QString &path, qint64 size)
{
    QFile file(path);
    if (!file.resize(size)) {
        return ioError(path + QStringLiteral(": cannot cut off a torn last line: ") + file.errorString());
    }
    return {};
}

void applyRanges(const json &ranges, LineSet &set, bool insert)
{
    if (!ranges.is_array()) {
        return;
    }
    for (const json &r : ranges) {
        if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number_integer()) {
            continue;
        }
        const qint64 first = r[0].get<qint64>();
        const qint64 last = std::min<qint64>(r[1].get<qint64>(), first + 100'000'000);
        for (qint64 line = first; line <= last; ++line) {
            insert ? set.insert(line) : set.erase(line);
        }
    }
}

/// Reads the records past `committed` in an output file, adds their lines to `state`, and cuts off a
/// torn last line.
Result<void> recoverTail(const QString &path, qint64 committed, bool results, Journal::State &state,
                         std::vector<qint64> &recoveredLines, qint64 *finalSize)
{
    QFile file(path);
    if (!file.exists()) {
        if (committed > 0) {
            return resumeError(QStringLiteral("%1 is missing, but the journal records %2 bytes of it; "
                                              "cannot resume without it")
                                   .arg(path)
                                   .arg(committed));
        }
        *finalSize = 0;
        return {};
    }
    if (!file.open(QIODevice::ReadOnly)) {
        return ioError(path + QStringLiteral(": cannot read: ") + file.errorString());
    }
    const qint64 size = file.size();
    if (size < committed) {
        return resumeError(QStringLiteral("%1 is shorter (%2 bytes) than its journal records (%3 bytes): "
                                          "it was truncated or replaced; cannot resume safely")
                               .arg(path)
                               .arg(size)
                               .arg(committed));
    }
    file.seek(committed);
    qint64 pos = committed;
    qint64 keep = size;
    while (pos < size) {
        const QByteArray line = file.readLine();
        if (line.isEmpty()) {
            break;
        }
        const bool terminated = line.endsWith('\n');
        const json record = json::parse(line.constData(), line.constData() + line.size(), nullptr, false);
        const bool valid =
            record.is_object() && record.contains("line") && record["line"].is_number_integer();
        if (!terminated || !valid) {
            if (pos + line.size() < size) {
                return resumeError(QStringLiteral("%1: a damaged record at byte %2 (not the last line); "
                                                  "cannot resume safely")
                                       .arg(path)
                                       .arg(pos));
            }
            keep = pos;
            ++state.tornLines;
            break;
        }
        const qint64 number = record["line"].get<qint64>();
        if (!state.done.contains(number)) {
            state.done.insert(number);
            recoveredLines.push_back(number);
            ++state.recovered;
            ++(results ? state.ok : state.failed);
        }
        pos += line.size();
    }
    file.close();
    if (keep < size) {
        if (auto cut = truncateFile(path, keep); !cut) {
            return cut.error();
        }
    }
    *finalSize = keep;
    return {};
}

} // namespace

Result<void> syncFile(QFile &file)
{
    if (!file.isOpen()) {
        return {};
    }
    if (!file.flush() || ::fdatasync(file.handle()) != 0) {
        return ioError(file.fileName() + QStringLiteral(": cannot sync to disk: ") +
                       QString::fromLocal8Bit(std::strerror(errno)));
    }
    return {};
}

Journal::~Journal()
{
    close();
}

QString Journal::pathFor(const QString &resultsPath)
{
    return resultsPath + QStringLiteral(".journal");
}

QString Journal::rewritePath(const QString &errorsPath)
{
    return errorsPath + QStringLiteral(".rewrite");
}

json Journal::projectIdentity(const ProjectConfig &project, const QString &modelOverride)
{
    json endpoints = json::array();
    for (const EndpointConfig &e : project.endpoints) {
        endpoints.push_back({{"name", e.name.toStdString()},
                             {"provider", e.provider == Provider::Anthropic ? "anthropic" : "openai"},
                             {"model", e.model.toStdString()},
                             {"anthropic_version", e.anthropicVersion.toStdString()},
                             {"default_max_tokens", e.defaultMaxTokens}});
    }
    return {{"endpoints", std::move(endpoints)}, {"model_override", modelOverride.toStdString()}};
}

Result<Journal::Identity> Journal::identify(const QString &inputPath, const ProjectConfig &project,
                                            const QString &modelOverride)
{
    QFile file(inputPath);
    if (!file.open(QIODevice::ReadOnly)) {
        return ioError(inputPath + QStringLiteral(": cannot read: ") + file.errorString());
    }
    Identity id;
    id.inputPath = QFileInfo(inputPath).absoluteFilePath();
    id.inputSize = file.size();
    id.project = projectIdentity(project, modelOverride);
    QCryptographicHash hash(QCryptographicHash::Sha256);
    bool read = true;
    QString scheme = QStringLiteral("sha256:");
    if (id.inputSize <= FullHashLimit) {
        read = hashRange(file, 0, id.inputSize, hash);
    } else {
        scheme = QStringLiteral("sha256-sampled:");
        hash.addData(QByteArray::number(id.inputSize));
        read =
            hashRange(file, 0, EdgeBytes, hash) && hashRange(file, id.inputSize - EdgeBytes, EdgeBytes, hash);
        const qint64 step = (id.inputSize - SampleBytes) / Samples;
        for (int i = 0; read && i < Samples; ++i) {
            read = hashRange(file, qint64(i) * step, SampleBytes, hash);
        }
    }
    if (!read) {
        return ioError(inputPath + QStringLiteral(": read failed: ") + file.errorString());
    }
    id.inputFingerprint = scheme + QString::fromLatin1(hash.result().toHex());
    return id;
}

QString Journal::mismatch(const json &header, const Identity &current)
{
    const json input = header.value("input", json::object());
    const QString was = QString::fromStdString(input.value("path", std::string()));
    if (input.value("size", qint64(-1)) != current.inputSize) {
        return QStringLiteral("the input is not the run's: %1 is %2 bytes, the run read %3 (%4 bytes)")
            .arg(current.inputPath)
            .arg(current.inputSize)
            .arg(was)
            .arg(input.value("size", qint64(-1)));
    }
    if (QString::fromStdString(input.value("fingerprint", std::string())) != current.inputFingerprint) {
        return QStringLiteral("the input is not the run's: %1 has the same size as %2 but different content")
            .arg(current.inputPath, was);
    }
    const QString shard = QString::fromStdString(header.value("shard", std::string()));
    if (shard != current.shard) {
        const auto name = [](const QString &s) {
            return s.isEmpty() ? QStringLiteral("the whole input") : QStringLiteral("shard ") + s;
        };
        return QStringLiteral("the run covered %1, this one asks for %2")
            .arg(name(shard), name(current.shard));
    }
    const json project = header.value("project", json::object());
    const json before = project.value("endpoints", json::array());
    const json now = current.project.value("endpoints", json::array());
    auto names = [](const json &list) {
        QStringList out;
        for (const json &e : list) {
            out << QString::fromStdString(e.value("name", std::string()));
        }
        return out.join(QStringLiteral(", "));
    };
    if (before.size() != now.size()) {
        return QStringLiteral("the project's endpoints changed: the run had %1 (%2), the project has %3 (%4)")
            .arg(before.size())
            .arg(names(before))
            .arg(now.size())
            .arg(names(now));
    }
    for (std::size_t i = 0; i < now.size(); ++i) {
        for (const auto &[key, value] : now[i].items()) {
            if (!before[i].contains(key) || before[i][key] != value) {
                return QStringLiteral("the project changed: endpoint %1 \"%2\" %3 was %4, is now %5")
                    .arg(i + 1)
                    .arg(QString::fromStdString(now[i].value("name", std::string())),
                         QString::fromStdString(key),
                         QString::fromStdString(before[i].value(key, json()).dump()),
                         QString::fromStdString(value.dump()));
            }
        }
    }
    if (project.value("model_override", json()) != current.project.value("model_override", json())) {
        return QStringLiteral("the model override (--model) changed: was %1, is now %2")
            .arg(QString::fromStdString(project.value("model_override", json()).dump()),
                 QString::fromStdString(current.project.value("model_override", json()).dump()));
    }
    return {};
}

Result<json> Journal::readHeader(const QString &journalPath)
{
    qint64 tornAt = -1;
    auto entries = readEntries(journalPath, &tornAt);
    if (!entries) {
        return entries.error();
    }
    return entries->front().value;
}

bool Journal::unfinishedRun(const QString &journalPath, qint64 *doneLines)
{
    if (!QFileInfo::exists(journalPath)) {
        return false;
    }
    qint64 tornAt = -1;
    auto entries = readEntries(journalPath, &tornAt);
    if (!entries) {
        return false;
    }
    const json &last = entries->back().value;
    if (last.value("finished", false)) {
        return false;
    }
    if (doneLines) {
        *doneLines = last.value("ok", qint64(0)) + last.value("failed", qint64(0));
    }
    return true;
}

Result<Journal::State> Journal::recover(const QString &journalPath, const QString &resultsPath,
                                        const QString &errorsPath)
{
    if (!QFileInfo::exists(journalPath)) {
        return resumeError(
            QStringLiteral("no journal %1: there is no run to resume for %2").arg(journalPath, resultsPath));
    }
    qint64 tornAt = -1;
    auto entries = readEntries(journalPath, &tornAt);
    if (!entries) {
        return entries.error();
    }
    State state;
    state.header = entries->front().value;
    state.runId = QString::fromStdString(state.header.value("run_id", std::string()));
    if (tornAt >= 0) {
        if (auto cut = truncateFile(journalPath, tornAt); !cut) {
            return cut.error();
        }
        ++state.tornLines;
    }
    bool rewriteRecorded = false;
    for (std::size_t i = 1; i < entries->size(); ++i) {
        const json &e = (*entries)[i].value;
        applyRanges(e.value("done", json::array()), state.done, true);
        applyRanges(e.value("reopen", json::array()), state.done, false);
        state.ok = e.value("ok", state.ok);
        state.failed = e.value("failed", state.failed);
        state.resultsBytes = e.value("results_bytes", state.resultsBytes);
        state.errorsBytes = e.value("errors_bytes", state.errorsBytes);
        state.finished = e.value("finished", false);
        rewriteRecorded = e.value("errors_rewrite", false);
        if (const auto spent = e.find("spent_usd"); spent != e.end() && spent->is_object()) {
            state.spent = *spent;
        }
    }

    // A --retry-errors rewrite of the errors file: finished when journaled, dropped when not.
    const QString rewrite = rewritePath(errorsPath);
    if (QFileInfo::exists(rewrite)) {
        if (rewriteRecorded) {
            if (auto replaced = finishRewrite(errorsPath); !replaced) {
                return replaced.error();
            }
        } else {
            QFile::remove(rewrite);
        }
    }

    std::vector<qint64> recoveredLines;
    qint64 resultsSize = 0;
    qint64 errorsSize = 0;
    if (auto r = recoverTail(resultsPath, state.resultsBytes, true, state, recoveredLines, &resultsSize);
        !r) {
        return r.error();
    }
    if (auto r = recoverTail(errorsPath, state.errorsBytes, false, state, recoveredLines, &errorsSize); !r) {
        return r.error();
    }
    state.resultsBytes = resultsSize;
    state.errorsBytes = errorsSize;
    state.recoveredLines = std::move(recoveredLines);
    return state;
}

Result<void> Journal::finishRewrite(const QString &errorsPath)
{
    const QString rewrite = rewritePath(errorsPath);
    if (std::rename(QFile::encodeName(rewrite).constData(), QFile::encodeName(errorsPath).constData()) != 0) {
        return ioError(rewrite + QStringLiteral(": cannot replace the errors file: ") +
                       QString::fromLocal8Bit(std::strerror(errno)));
    }
    return {};
}

Result<LineSet> Journal::prepareRetry(const QString &errorsPath, qint64 *keptBytes, qint64 *keptRecords)
{
    QFile in(errorsPath);
    if (!in.open(QIODevice::ReadOnly)) {
        return ioError(errorsPath + QStringLiteral(": cannot read: ") + in.errorString());
    }
    QFile out(rewritePath(errorsPath));
    if (!out.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        return ioError(out.fileName() + QStringLiteral(": cannot write: ") + out.errorString());
    }
    LineSet retry;
    *keptBytes = 0;
    *keptRecords = 0;
    qint64 number = 0;
    while (!in.atEnd()) {
        const QByteArray line = in.readLine();
        ++number;
        const json record = json::parse(line.constData(), line.constData() + line.size(), nullptr, false);
        if (!record.is_object() || !record.contains("line") || !record["line"].is_number_integer()) {
            return resumeError(
                QStringLiteral("%1:%2: not an error record").arg(fileName(errorsPath)).arg(number));
        }
        const std::string cls = record.value("error_class", std::string());
        if (cls == "invalid_input" || cls == "duplicate_id") {
            // The same line would fail the same way: the input may not change under a run.
            if (out.write(line) != line.size()) {
                return ioError(out.fileName() + QStringLiteral(": write failed: ") + out.errorString());
            }
            *keptBytes += line.size();
            ++*keptRecords;
        } else {
            retry.insert(record["line"].get<qint64>());
        }
    }
    if (auto synced = syncFile(out); !synced) {
        return synced.error();
    }
    return retry;
}

Result<void> Journal::create(const QString &path, const Identity &identity, const QString &runId,
                             const QString &resultsPath, const QString &errorsPath)
{
    close();
    m_pending.clear();
    m_ok = m_failed = 0;
    m_file.setFileName(path);
    if (!m_file.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Unbuffered)) {
        return ioError(path + QStringLiteral(": cannot create the journal: ") + m_file.errorString());
    }
    json header = {
        {"sluice_journal", FormatVersion},
        {"run_id", runId.toStdString()},
        {"created", QDateTime::currentDateTimeUtc().toString(Qt::ISODate).toStdString()},
        {"input",
         {{"path", identity.inputPath.toStdString()},
          {"size", identity.inputSize},
          {"fingerprint", identity.inputFingerprint.toStdString()}}},
        {"project", identity.project},
        {"results", QFileInfo(resultsPath).absoluteFilePath().toStdString()},
        {"errors", QFileInfo(errorsPath).absoluteFilePath().toStdString()},
    };
    if (!identity.shard.isEmpty()) {
        header["shard"] = identity.shard.toStdString();
    }
    return append(header);
}

Result<void> Journal::openAppend(const QString &path)
{
    close();
    m_pending.clear();
    m_file.setFileName(path);
    if (!m_file.open(QIODevice::WriteOnly | QIODevice::Append | QIODevice::Unbuffered)) {
        return ioError(path + QStringLiteral(": cannot open the journal: ") + m_file.errorString());
    }
    return {};
}

void Journal::markDone(qint64 line, bool ok)
{
    m_pending.push_back(line);
    ++(ok ? m_ok : m_failed);
}

json Journal::toRanges(std::vector<qint64> lines)
{
    std::sort(lines.begin(), lines.end());
    json out = json::array();
    for (std::size_t i = 0; i < lines.size();) {
        std::size_t j = i;
        while (j + 1 < lines.size() && lines[j + 1] <= lines[j] + 1) {
            ++j;
        }
        out.push_back({lines[i], lines[j]});
        i = j + 1;
    }
    return out;
}

json Journal::rangesOf(const LineSet &lines)
{
    json out = json::array();
    for (const auto &[first, last] : lines.ranges()) {
        out.push_back({first, last});
    }
    return out;
}

Result<void> Journal::checkpoint(qint64 resultsBytes, qint64 errorsBytes, const json &extra)
{
    json entry = {{"done", toRanges(std::move(m_pending))},
                  {"ok", m_ok},
                  {"failed", m_failed},
                  {"results_bytes", resultsBytes},
                  {"errors_bytes", errorsBytes}};
    m_pending.clear();
    for (const auto &[key, value] : extra.items()) {
        entry[key] = value;
    }
    return append(entry);
}

Result<void> Journal::append(const json &entry)
{
    if (!m_file.isOpen()) {
        return ioError(m_file.fileName() + QStringLiteral(": the journal is not open"));
    }
    std::string line = entry.dump(-1, ' ', false, json::error_handler_t::replace);
    line.push_back('\n');
    if (m_file.write(line.data(), qint64(line.size())) != qint64(line.size())) {
        return ioError(m_file.fileName() + QStringLiteral(": write failed: ") + m_file.errorString());
    }
    return syncFile(m_file);
}

Result<void> Journal::close()
{
    if (m_file.isOpen()) {
        m_file.close();
    }
    return {};
}

} // namespace Sluice
