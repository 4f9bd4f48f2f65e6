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
#include <stdexcept>
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
  std::string limits;         // what the value must be, for the help ("at least 1"); "": any
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

// ---- limits: what one option's value must be, declared with the option ----
// A rule on one number, checked once the value is built; its message is made from it:
// "--batch must be at least 1, got 0", "--threads must be 0 (automatic) to 1024, got 2000".
struct Limit {
  std::optional<double> low, high;           // bounds
  bool low_open = false, high_open = false;  // a bound excluded (above, below), not included
  std::optional<double> multiple;            // the value a multiple of it
  std::vector<double> choices;               // one of these (bounds then unused)
  std::optional<double> special;             // a value that means something of its own,
  std::string special_meaning;               // accepted whatever the rule says
  std::string note;                          // after the rule, in parentheses
  bool integral = false;                     // an integer's range reads "1 to 4096"

  bool empty() const { return !low && !high && !multiple && choices.empty(); }
  bool accepts(double value) const;
  // "--tile must be 1 to 4096 (or 0: the checkpoint's tile size), got 8192"
  std::string message(const std::string& option, const std::string& got) const;
  // The rule alone, for the help: "at least 1", "0 to 1024", "in [0, 1)".
  std::string describe() const;
};

// A value's number, for its limits: arithmetic values, set optionals of them, and values of
// types that give one as `limit_number(value)` (found by argument lookup). Others (text,
// lists, enumerations) have none and take no limits; an unset optional passes them.
void limit_number() = delete;  // the name, for the lookup below
template <typename T, typename = void>
struct HasLimitNumber : std::false_type {};
template <typename T>
struct HasLimitNumber<T, std::void_t<decltype(limit_number(std::declval<const T&>()))>>
    : std::true_type {};
template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <typename T>
constexpr bool has_number() {
  if constexpr (IsOptional<T>::value)
    return has_number<typename T::value_type>();
  else if constexpr (std::is_arithmetic_v<T>)
    return !std::is_same_v<T, bool>;
  else
    return HasLimitNumber<T>::value;
}
template <typename T>
constexpr bool integral_number() {
  if constexpr (IsOptional<T>::value)
    return integral_number<typename T::value_type>();
  else if constexpr (std::is_arithmetic_v<T>)
    return std::is_integral_v<T>;
  else if constexpr (HasLimitNumber<T>::value)
    return std::is_integral_v<decltype(limit_number(std::declval<const T&>()))>;
  else
    return false;
}
template <typename T>
std::optional<double> number_of(const T& value) {
  if constexpr (IsOptional<T>::value) {
    if (!value)
      return std::nullopt;
    return number_of(*value);
  } else if constexpr (has_number<T>() && std::is_arithmetic_v<T>) {
    return static_cast<double>(value);
  } else if constexpr (has_number<T>()) {
    return static_cast<double>(limit_number(value));
  } else {
    return std::nullopt;
  }
}

// What the checks read of a value: its number (if it has one) and its text ("" when empty).
struct Reading {
  std::optional<double> number;
  std::string text;
};
template <typename T>
Reading reading(const T& value) {
  return {number_of(value), show(value)};
}

Declaration declared(const std::string& name, std::string help, Arity arity,
                     std::string value_name = {});

// ---- the declarations of one options struct ----
// Each option's own rules are declared with it (`.required()`, `.at_least(1)`, ...) and
// checked by `build`, so that a stage's `validate` keeps only the rules between options.
template <typename Options>
class Table {
 public:
  using Assign = std::function<void(Options&, const std::vector<std::string>&)>;
  using Read = std::function<Reading(const Options&)>;
  struct Entry {
    Declaration declaration;
    Assign assign;
    Read read;             // what the checks read of the value; null for a flag
    bool numeric = false;  // whether the value has a number, to take limits
    Limit limit;
    std::string required;  // "" or who must be given: "--data is required"
  };

  // A value bound to a member (of Options or of a base of it).
  template <typename T, typename Owner>
  Table& value(const std::string& name, T Owner::*member, std::string help,
               std::string value_name = {}) {
    return value_at(
        name, [member](Options& options) -> T& { return options.*member; }, std::move(help),
        std::move(value_name));
  }
  // A value reached through `access(options)` (a nested struct, a TORCH_ARG accessor).
  template <typename Access>
  Table& value_at(const std::string& name, Access access, std::string help,
                  std::string value_name = {}) {
    using T = std::decay_t<decltype(access(std::declval<Options&>()))>;
    Options defaults{};
    Declaration declaration = declared(name, std::move(help), Arity::value, std::move(value_name));
    declaration.default_text = show(access(defaults));
    Entry entry;
    entry.declaration = std::move(declaration);
    entry.assign = [access, name](Options& options, const std::vector<std::string>& words) {
      parse(words.back(), flag_text(name), access(options));
    };
    // The accessors take the struct as they find it; reading changes nothing.
    entry.read = [access](const Options& options) {
      return reading(access(const_cast<Options&>(options)));
    };
    entry.numeric = has_number<T>();
    entry.limit.integral = integral_number<T>();
    entries_.push_back(std::move(entry));
    return *this;
  }
  template <typename Owner>
  Table& flag(const std::string& name, bool Owner::*member, std::string help) {
    return flag_with(
        name, [member](Options& options) { options.*member = true; }, std::move(help));
  }
  // A flag whose presence does `set(options)`.
  template <typename Set>
  Table& flag_with(const std::string& name, Set set, std::string help) {
    Entry entry;
    entry.declaration = declared(name, std::move(help), Arity::flag);
    entry.assign = [set](Options& options, const std::vector<std::string>&) { set(options); };
    entries_.push_back(std::move(entry));
    return *this;
  }
  // Every occurrence is parsed as one element of the container (vector or map).
  template <typename Container, typename Owner>
  Table& repeated(const std::string& name, Container Owner::*member, std::string help,
                  std::string value_name) {
    Entry entry;
    entry.declaration = declared(name, std::move(help), Arity::repeated, std::move(value_name));
    entry.assign = [member, name](Options& options, const std::vector<std::string>& words) {
      Container& container = options.*member;
      for (const std::string& word : words)
        append(word, flag_text(name), container);
    };
    entry.read = [member](const Options& options) {
      return Reading{std::nullopt, (options.*member).empty() ? "" : "given"};
    };
    entries_.push_back(std::move(entry));
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
  // It must be given, and not as "": "--data is required", or "<what> is required" ("a RUN
  // directory is required", for a positional option).
  Table& required(std::string what = {}) {
    Entry& entry = last("required");
    entry.required = what.empty() ? flag_text(entry.declaration.name) : std::move(what);
    update_limits_text(entry);
    return *this;
  }
  // Limits on a number (an unset optional passes them). A `note` follows the rule in the
  // message: "--augment-scale must be in [0, 3] (zooms up to 4x in and out)". Limits of one
  // option make one rule: `.at_least(0).below(1)` reads "must be in [0, 1)".
  // at_least(0): "must not be negative"; at_least(n): "must be at least n".
  Table& at_least(double low, std::string note = {}) { return bound(low, false, {}, false, note); }
  // above(0): "must be positive"; above(x): "must be above x".
  Table& above(double low, std::string note = {}) { return bound(low, true, {}, false, note); }
  Table& at_most(double high, std::string note = {}) { return bound({}, false, high, false, note); }
  Table& below(double high, std::string note = {}) { return bound({}, false, high, true, note); }
  // Both bounds included: "must be 1 to 255" (integers), "must be in [0, 1]" (real numbers).
  Table& in_range(double low, double high, std::string note = {}) {
    return bound(low, false, high, false, note);
  }
  Table& multiple_of(double step) {
    Entry& entry = numeric_entry("multiple_of");
    entry.limit.multiple = step;
    update_limits_text(entry);
    return *this;
  }
  // One of a few numbers: "--bands must be 3 or 4, got 5".
  Table& choices(std::vector<double> values) {
    Entry& entry = numeric_entry("choices");
    entry.limit.choices = std::move(values);
    update_limits_text(entry);
    return *this;
  }
  // A value that means something of its own, accepted whatever the limits say; messages say
  // what: "--threads must be 0 (automatic) to 1024", "--tile must be 1 to 4096 (or 0: the
  // checkpoint's tile size)".
  Table& meaning(double value, std::string meaning) {
    Entry& entry = numeric_entry("meaning");
    entry.limit.special = value;
    entry.limit.special_meaning = std::move(meaning);
    update_limits_text(entry);
    return *this;
  }
  // The options of a part, reached through `access(options)`, declared here as they are there
  // (their limits included).
  template <typename Part, typename Access>
  Table& include(const Table<Part>& part, Access access) {
    for (const auto& entry : part.entries()) {
      auto assign = entry.assign;
      auto read = entry.read;
      Entry included;
      included.declaration = entry.declaration;
      included.assign = [assign, access](Options& options, const std::vector<std::string>& w) {
        assign(access(options), w);
      };
      included.numeric = entry.numeric;
      included.limit = entry.limit;
      included.required = entry.required;
      if (read)
        included.read = [read, access](const Options& options) {
          return read(access(const_cast<Options&>(options)));
        };
      entries_.push_back(std::move(included));
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
  // The struct's defaults, overridden by what was given; every option checked against its
  // own rules (UsageError), in the order declared.
  Options build(const Given& given) const {
    Options options = assigned(given);
    check(options);
    return options;
  }
  // The same, but required options may be missing: for a part of the values (a config
  // file's, which the command line completes).
  Options build_part(const Given& given) const {
    Options options = assigned(given);
    check_entries(options, false);
    return options;
  }
  // Checks a struct however it was made (a stage called as a library checks its options so).
  void check(const Options& options) const { check_entries(options, true); }

 private:
  Options assigned(const Given& given) const {
    Options options{};
    for (const Entry& entry : entries_) {
      const auto found = given.find(entry.declaration.name);
      if (found != given.end())
        entry.assign(options, found->second);
    }
    return options;
  }

  void check_entries(const Options& options, bool required) const {
    for (const Entry& entry : entries_) {
      if (!entry.read || (entry.limit.empty() && entry.required.empty()))
        continue;
      const Reading value = entry.read(options);
      if (required && !entry.required.empty() && value.text.empty())
        throw UsageError(entry.required + " is required");
      if (value.number && !entry.limit.accepts(*value.number))
        throw UsageError(entry.limit.message(flag_text(entry.declaration.name), value.text));
    }
  }

  Entry& last(const char* modifier) {
    if (entries_.empty() || !entries_.back().read)
      throw std::logic_error(std::string(modifier) + "() needs a value declared before it");
    return entries_.back();
  }
  Entry& numeric_entry(const char* modifier) {
    Entry& entry = last(modifier);
    if (!entry.numeric)
      throw std::logic_error(std::string(modifier) + "(): --" + entry.declaration.name +
                             " is not a number");
    return entry;
  }
  Table& bound(std::optional<double> low, bool low_open, std::optional<double> high, bool high_open,
               const std::string& note) {
    Entry& entry = numeric_entry("a limit");
    if (low) {
      entry.limit.low = low;
      entry.limit.low_open = low_open;
    }
    if (high) {
      entry.limit.high = high;
      entry.limit.high_open = high_open;
    }
    if (!note.empty())
      entry.limit.note = note;
    update_limits_text(entry);
    return *this;
  }
  static void update_limits_text(Entry& entry) {
    std::string text = entry.limit.describe();
    if (!entry.required.empty())
      text = text.empty() ? "required" : "required; " + text;
    entry.declaration.limits = text;
  }

  std::vector<Entry> entries_;
};

}  // namespace satunet::options
