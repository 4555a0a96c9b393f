/* search/dict.cc: the word lists of languages (dict.hh). */
#include "search/dict.hh"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "search/index.hh"

extern "C" {
#include "kb/base/log.h"
}

namespace {

/* The file of /usr/share/dict holding lang's words (Debian's w* packages). */
const char *list_name(const std::string &lang)
{
    static const std::map<std::string, const char *> names = {
        {"fr", "french"},  {"en", "american-english"}, {"de", "ngerman"},
        {"es", "spanish"}, {"it", "italian"},          {"pt", "portuguese"},
        {"nl", "dutch"},   {"sv", "swedish"},          {"da", "danish"},
        {"nb", "bokmaal"}, {"no", "bokmaal"},          {"ca", "catalan"},
        {"pl", "polish"},
    };
    auto it = names.find(lang);
    return it == names.end() ? nullptr : it->second;
}

/* One language's words, folded, sorted, each ending with a NUL in text. */
struct word_list {
    std::string text;
    std::vector<uint32_t> starts;

    bool has(std::string_view w) const
    {
        auto it = std::lower_bound(starts.begin(), starts.end(), w,
                                   [&](uint32_t s, std::string_view x) {
                                       return std::string_view(text.data() + s) < x;
                                   });
        return it != starts.end() && std::string_view(text.data() + *it) == w;
    }
};

/* Only words made of letters (the list also has "aujourd'hui", "c'est-à-dire": a query
 * never has such a word, it has their parts). */
bool letters_only(const std::string &w)
{
    for (unsigned char c : w)
        if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    return !w.empty();
}

std::unique_ptr<word_list> load(const std::string &lang)
{
    const char *name = list_name(lang);
    if (!name)
        return nullptr;
    const char *dir = getenv("KB_DICT_DIR");
    std::string path = std::string(dir && *dir ? dir : "/usr/share/dict") + "/" + name;
    std::ifstream in(path);
    if (!in)
        return nullptr;
    std::vector<std::string> words;
    std::string line;
    while (std::getline(in, line)) {
        std::string f = search_fold(line);
        if (f.size() >= 4 && f.size() <= SEARCH_MAX_WORD && letters_only(f))
            words.push_back(std::move(f));
    }
    std::sort(words.begin(), words.end());
    words.erase(std::unique(words.begin(), words.end()), words.end());
    auto list = std::make_unique<word_list>();
    for (const auto &w : words) {
        list->starts.push_back((uint32_t)list->text.size());
        list->text += w;
        list->text += '\0';
    }
    kb_log(KB_LOG_INFO, "search: %zu words of %s from %s", words.size(), lang.c_str(),
           path.c_str());
    return list;
}

} // namespace

bool search_dict_has(const std::string &lang, const std::string &folded)
{
    /* Lists are loaded once and never freed: every reader of the process shares them. */
    static std::mutex mu;
    static std::map<std::string, std::unique_ptr<word_list>> lists;
    const word_list *list;
    {
        std::lock_guard<std::mutex> lk(mu);
        auto it = lists.find(lang);
        if (it == lists.end()) {
            if (lists.size() >= 64 || !list_name(lang))
                return false; /* languages are the index's own (query.cc): never many */
            it = lists.emplace(lang, load(lang)).first;
        }
        list = it->second.get();
    }
    return list && list->has(folded);
}
