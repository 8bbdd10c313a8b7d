#pragma once

#include <QByteArrayView>

namespace Sluice::Sim {

class Dialect;

/// Maps a request path to what the simulator serves: GET `/health`, and POST to any path ending in
/// `/chat/completions` (OpenAI) or `/messages` (Anthropic), whatever comes before (base paths such as
/// `/openai/deploy/v1` do not matter).
class Router
{
public:
    enum class Route { Health, Chat, Messages, NotFound };
    struct Match
    {
        Route route = Route::NotFound;
        const Dialect *dialect = nullptr; ///< for Chat and Messages
    };

    Router(const Dialect *openAi, const Dialect *anthropic);
    /// `path` without its query.
    Match match(QByteArrayView path) const;

private:
    const Dialect *m_openAi;
    const Dialect *m_anthropic;
};

} // namespace Sluice::Sim
