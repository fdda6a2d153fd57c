--[[
cteimpact sandbox filter for pandoc (the fallback renderer of cteimpact.reporting, with render(sandbox=True)).

The reports of a run directory are built from records someone else may have written. cteimpact escapes every text
it takes from them, and pandoc reads the source without raw HTML, raw attributes or raw TeX; this filter, run before
any other, is the last check that the document holds nothing else:

  * no raw block or inline (HTML, Typst, LaTeX...): the document stops with an error;
  * every image is a relative path inside the source's folder (no scheme, no leading "/", no ".." component, no
    backslash), so neither renderer reads a file from elsewhere;
  * every link points inside the document ("#id");
  * no element keeps an event-handler attribute ("on...") or a "style" attribute;
  * the metadata that pandoc's templates insert as is (header-includes, include-before, include-after) is dropped.

It runs first, so the raw Typst that the cross-reference filter writes afterwards (callouts, table notes) is ours.
]]

local function refuse(message)
  error("[cteimpact-sandbox] error: " .. message, 0)
end

local function safe_path(src)
  if src == nil or src == "" then return false end
  if src:match("^%a[%w+.-]*:") then return false end   -- a scheme: http:, file:, data:, javascript:...
  if src:sub(1, 1) == "/" or src:find("\\", 1, true) then return false end
  for part in src:gmatch("[^/]+") do
    if part == ".." then return false end
  end
  return true
end

local function clean_attributes(el)
  if el.attributes == nil then return nil end
  local changed = false
  for key, _ in pairs(el.attributes) do
    local lower = key:lower()
    if lower:match("^on") or lower == "style" then
      el.attributes[key] = nil
      changed = true
    end
  end
  if changed then return el end
  return nil
end

function RawBlock(el)
  refuse("the document holds raw " .. el.format .. " content, which a report never writes")
end

function RawInline(el)
  refuse("the document holds raw " .. el.format .. " content, which a report never writes")
end

function Image(img)
  if not safe_path(img.src) then
    refuse("an image points outside the report's folder: " .. img.src)
  end
  return clean_attributes(img)
end

function Link(link)
  if link.target:sub(1, 1) ~= "#" then
    refuse("a link points outside the document: " .. link.target)
  end
  return clean_attributes(link)
end

Div = clean_attributes
Span = clean_attributes
Code = clean_attributes
CodeBlock = clean_attributes
Header = clean_attributes
Table = clean_attributes
Figure = clean_attributes

function Meta(meta)
  meta["header-includes"] = nil
  meta["include-before"] = nil
  meta["include-after"] = nil
  return meta
end
