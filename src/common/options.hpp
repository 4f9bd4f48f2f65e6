#pragma once
// Each stage declares its options once, in its own library, as PDAL's stages do: the name, the
// help, the member it binds and (from that member in a default-constructed struct) the default.
// Values are parsed into their typed members once, here; the CLI only turns the declarations
// into command-line and config-file parsing. Enumerations are parsed by one generic parser from
// the names their own header gives them (an `enum_names(E)` function found by argument lookup).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace satunet::options {

enum class Arity {
  flag,      // --name alone sets it
  value,     // --name VALUE, the last one given wins
  repeated,  // --name VALUE, every one given counts
};

struct Declaration {
  std::string name;        // without the dashes
  char short_name = 0;     // -x, or 0
  std::string value_name;  // shown instead of "arg"
  std::string help;
  Arity arity = Arity::value;
  std::string default_text;   // shown as (=...); "" when the option has none to show
  std::string implicit_text;  // the value of a bare --name; "" when a value is required
  bool positional = false;    // may also be given as the first bare argument
  int id = 0;                 // which declaration: tables that include another's keep its ids
};

// The options a command was given (on the command line or in a config file), by name: the
// words of each, in order. Options not given are absent; a flag given has no words.
using Given = std::map<std::string, std::vector<std::string>>;

// "--name"
std::string flag_text(const std::string& name);

// The message Boost.Program_options gives for a value it cannot convert, for one voice.
[[noreturn]] void invalid_value(const std::string& option, const std::string& text);

// ---- enumerations ----
template <typename E>
using EnumNames = std::vector<std::pair<E, std::string>>;

// "a, b or c"
std::string alternatives(const std::vector<std::string>& names);

template <typename E>
std::vector<std::string> enum_choices() {
  std::vector<std::string> names;
  for (const auto& entry : enum_names(E{}))
    names.push_back(entry.second);
  return names;
}

// Throws UsageError("<option> must be a, b or c (got 'x')").
template <typename E>
E parse_enum(const std::string& text, const std::string& option) {
  for (const auto& [value, name] : enum_names(E{}))
    if (name == text)
      return value;
  throw UsageError(option + " must be " + alternatives(enum_choices<E>()) + " (got '" + text +
                   "')");
}

template <typename E>
std::string enum_name(E value) {
  for (const auto& [each, name] : enum_names(E{}))
    if (each == value)
      return name;
  return "?";
}

// ---- text <-> values: one overload pair per type; stage types add their own beside them ----
void parse(const std::string& text, const std::string& option, int& value);
void parse(const std::string& text, const std::string& option, std::int64_t& value);
// Negative values are refused rather than wrapped around.
void parse(const std::string& text, const std::string& option, std::uint64_t& value);
// Only finite numbers: nan and inf are refused.
void parse(const std::string& text, const std::string& option, double& value);
void parse(const std::string& text, const std::string& option, std::string& value);

std::string show(int value);
std::string show(std::int64_t value);
std::string show(std::uint64_t value);
// The shortest text that reads back as the same double (0.1, not 0.10000000000000001).
std::string show(double value);
std::string show(const std::string& value);

// Declared before any is defined, so that each finds the others whatever the nesting.
template <typename E, typename = std::enable_if_t<std::is_enum_v<E>>>
void parse(const std::string& text, const std::string& option, E& value);
template <typename E, typename = std::enable_if_t<std::is_enum_v<E>>>
std::string show(E value);
template <typename T>
void parse(const std::string& text, const std::string& option, std::optional<T>& value);
template <typename T>
std::string show(const std::optional<T>& value);
template <typename V>
void parse(const std::string& text, const std::string& option, std::pair<std::string, V>& value);
template <typename T>
void parse(const std::string& text, const std::string& option, std::vector<T>& value);
template <typename T>
std::string show(const std::vector<T>& value);
template <typename V>
void parse(const std::string& text, const std::string& option, std::map<std::string, V>& value);
template <typename V>
std::string show(const std::map<std::string, V>& value);

template <typename E, typename>
void parse(const std::string& text, const std::string& option, E& value) {
  value = parse_enum<E>(text, option);
}
template <typename E, typename>
std::string show(E value) {
  return enum_name(value);
}

template <typename T>
void parse(const std::string& text, const std::string& option, std::optional<T>& value) {
  T parsed{};
  parse(text, option, parsed);
  value = std::move(parsed);
}
template <typename T>
std::string show(const std::optional<T>& value) {
  return value ? show(*value) : std::string();
}

// "KEY=VALUE", the value parsed as V.
std::pair<std::string, std::string> split_pair(const std::string& text, const std::string& option);
template <typename V>
void parse(const std::string& text, const std::string& option, std::pair<std::string, V>& value) {
  const auto [key, rest] = split_pair(text, option);
  value.first = key;
  parse(rest, option + " " + key, value.second);
}

// Lists and maps given as one value are comma-separated ("1,2,3", "a=x,b=y").
std::vector<std::string> split_list(const std::string& text);
std::string join_list(const std::vector<std::string>& items);

template <typename T>
void parse(const std::string& text, const std::string& option, std::vector<T>& value) {
  value.clear();
  for (const std::string& item : split_list(text)) {
    T parsed{};
    parse(item, option, parsed);
    value.push_back(std::move(parsed));
  }
}
template <typename T>
std::string show(const std::vector<T>& value) {
  std::vector<std::string> items;
  for (const T& item : value)
    items.push_back(show(item));
  return join_list(items);
}

template <typename V>
void parse(const std::string& text, const std::string& option, std::map<std::string, V>& value) {
  value.clear();
  for (const std::string& item : split_list(text)) {
    std::pair<std::string, V> parsed;
    parse(item, option, parsed);
    value[parsed.first] = parsed.second;
  }
}
template <typename V>
std::string show(const std::map<std::string, V>& value) {
  std::vector<std::string> items;
  for (const auto& [key, each] : value)
    items.push_back(key + "=" + show(each));
  return join_list(items);
}

// One element of a repeated option, appended to its container.
template <typename T>
void append(const std::string& text, const std::string& option, std::vector<T>& container) {
  T parsed{};
  parse(text, option, parsed);
  container.push_back(std::move(parsed));
}
template <typename V>
void append(const std::string& text, const std::string& option,
            std::map<std::string, V>& container) {
  std::pair<std::string, V> parsed;
  parse(text, option, parsed);
  container[parsed.first] = parsed.second;
}

Declaration declared(const std::string& name, std::string help, Arity arity,
                     std::string value_name = {});

// ---- the declarations of one options struct ----
template <typename Options>
class Table {
 public:
  using Assign = std::function<void(Options&, const std::vector<std::string>&)>;
  struct Entry {
    Declaration declaration;
    Assign assign;
  };

  // A value bound to a member.
  template <typename T>
  Table& value(const std::string& name, T Options::*member, std::string help,
               std::string value_name = {}) {
    return value_at(
        name, [member](Options& options) -> T& { return options.*member; }, std::move(help),
        std::move(value_name));
  }
  // A value reached through `access(options)` (a nested struct, a TORCH_ARG accessor).
  template <typename Access>
  Table& value_at(const std::string& name, Access access, std::string help,
                  std::string value_name = {}) {
    Options defaults{};
    Declaration declaration = declared(name, std::move(help), Arity::value, std::move(value_name));
    declaration.default_text = show(access(defaults));
    entries_.push_back({std::move(declaration),
                        [access, name](Options& options, const std::vector<std::string>& words) {
                          parse(words.back(), flag_text(name), access(options));
                        }});
    return *this;
  }
  Table& flag(const std::string& name, bool Options::*member, std::string help) {
    return flag_with(
        name, [member](Options& options) { options.*member = true; }, std::move(help));
  }
  // A flag whose presence does `set(options)`.
  template <typename Set>
  Table& flag_with(const std::string& name, Set set, std::string help) {
    Declaration declaration = declared(name, std::move(help), Arity::flag);
    entries_.push_back(
        {std::move(declaration),
         [set](Options& options, const std::vector<std::string>&) { set(options); }});
    return *this;
  }
  // Every occurrence is parsed as one element of the container (vector or map).
  template <typename Container>
  Table& repeated(const std::string& name, Container Options::*member, std::string help,
                  std::string value_name) {
    Declaration declaration =
        declared(name, std::move(help), Arity::repeated, std::move(value_name));
    entries_.push_back({std::move(declaration),
                        [member, name](Options& options, const std::vector<std::string>& words) {
                          Container& container = options.*member;
                          for (const std::string& word : words)
                            append(word, flag_text(name), container);
                        }});
    return *this;
  }
  // Changes the option declared last.
  Table& implicit(std::string text) {
    entries_.back().declaration.implicit_text = std::move(text);
    return *this;
  }
  Table& positional() {
    entries_.back().declaration.positional = true;
    return *this;
  }
  Table& short_name(char letter) {
    entries_.back().declaration.short_name = letter;
    return *this;
  }
  // The options of a part, reached through `access(options)`, declared here as they are there.
  template <typename Part, typename Access>
  Table& include(const Table<Part>& part, Access access) {
    for (const auto& entry : part.entries()) {
      auto assign = entry.assign;
      entries_.push_back({entry.declaration,
                          [assign, access](Options& options, const std::vector<std::string>& w) {
                            assign(access(options), w);
                          }});
    }
    return *this;
  }

  const std::vector<Entry>& entries() const { return entries_; }
  std::vector<Declaration> declarations() const {
    std::vector<Declaration> all;
    for (const Entry& entry : entries_)
      all.push_back(entry.declaration);
    return all;
  }
  // The struct's defaults, overridden by what was given.
  Options build(const Given& given) const {
    Options options{};
    for (const Entry& entry : entries_) {
      const auto found = given.find(entry.declaration.name);
      if (found != given.end())
        entry.assign(options, found->second);
    }
    return options;
  }

 private:
  std::vector<Entry> entries_;
};

}  // namespace satunet::options
