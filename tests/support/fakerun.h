#pragma once

// One file run of the real Engine on the scripted fake transport and the manual clock: the shared part
// of the scheduler's and the cost tests' harnesses (each adds its own endpoints and input lines).

#include "engine/engine.h"
#include "faketransport.h"
#include "manualclock.h"
#include "runfixture.h"

#include <QObject>
#include <QSet>
#include <QStringList>
#include <QTemporaryDir>

#include <memory>

namespace Sluice::Test {

struct FakeRun
{
    QTemporaryDir dir;
    ManualClock clock;
    DefaultRandom random{42};
    FakeTransport transport{&clock};
    ProjectConfig project;
    RunOptions options;
    std::unique_ptr<Engine> engine;
    bool finished = false;
    MetricsSnapshot summary;
    QStringList notices;
    double finishedAtMs = 0;
    QString startError;

    FakeRun()
    {
        options.requestsPath = dir.filePath(QStringLiteral("requests.jsonl"));
        options.outPath = dir.filePath(QStringLiteral("results.jsonl"));
        options.tickMs = 100;
        project.limits.retry.baseDelayMs = 10;
        project.limits.retry.maxDelayMs = 100;
    }
    /// Makes and starts the engine; false (and startError) when it refuses to start.
    bool start()
    {
        EngineParts parts;
        parts.clock = &clock;
        parts.random = &random;
        parts.transport = &transport;
        finished = false;
        engine = std::make_unique<Engine>(project, options, parts);
        QObject::connect(engine.get(), &Engine::finished, engine.get(), [this](const MetricsSnapshot &s) {
            finished = true;
            summary = s;
            finishedAtMs = clock.nowMs();
        });
        QObject::connect(engine.get(), &Engine::notice, engine.get(),
                         [this](const QString &m) { notices.append(m); });
        const auto started = engine->start();
        startError = started ? QString() : started.error().message;
        if (!started) {
            qWarning("%s", qPrintable(startError));
        }
        return bool(started);
    }
    /// Runs until the run finishes or `limitMs` of clock time passed.
    bool run(double limitMs = 600000)
    {
        return start() && clock.runUntil([this] { return finished; }, limitMs, 10);
    }
    QList<nlohmann::json> results() const { return readJsonl(options.outPath); }
    QList<nlohmann::json> errors() const { return readJsonl(engine->errorsPath()); }
    /// Line numbers with a record; false when a line has two.
    bool linesWithRecords(QSet<qint64> *seen) const
    {
        for (const QList<nlohmann::json> &file : {results(), errors()}) {
            for (const nlohmann::json &record : file) {
                const qint64 line = record.at("line").get<qint64>();
                if (seen->contains(line)) {
                    qWarning("line %lld twice", line);
                    return false;
                }
                seen->insert(line);
            }
        }
        return true;
    }
    /// Every line of 1..n has exactly one record.
    bool everyLineOnce(int n) const
    {
        QSet<qint64> seen;
        return linesWithRecords(&seen) && seen.size() == n;
    }
};

} // namespace Sluice::Test
