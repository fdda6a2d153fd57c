--[[
cteimpact cross-reference filter for pandoc (the fallback renderer of cteimpact.reporting).

Pandoc alone does not understand Quarto's cross-reference syntax. This filter gives a .qmd written for Quarto
the same reading in pandoc's HTML and Typst output:

  * figures labelled `{#fig-...}` and tables labelled `{#tbl-...}` are numbered in document order, and their
    captions start with "Figure N: " / "Table N: ";
  * `@fig-x`, `@tbl-x` and `@sec-x` (pandoc reads them as citations) become links whose text is "Figure 1",
    "Table 2", "Section 3.1"; `[-@fig-x]` gives the bare number; an unknown label becomes "?@label" in bold and a
    warning on stderr that starts with "[cteimpact-crossref]";
  * Quarto callouts (`::: {.callout-note}` with a `title` attribute or a leading heading) become a titled box
    (a title is read as markdown without raw HTML, Typst or TeX);
  * a `::: {.table-note}` block under a table is set as a small note;
  * `tbl-colwidths` (document metadata, or an attribute of one table) works as in Quarto: `false` lets the
    output size columns to their content, `true` keeps pandoc's relative widths for wide pipe tables, a list
    `[40, 30, 30]` sets percentages;
  * in Typst, a table of up to 30 rows is kept on one page together with its note;
  * a citation (`@smith2020`) in a document without a bibliography shows as "?@smith2020" with a warning, as in
    Quarto, instead of stopping Typst.

Section numbers follow pandoc's --number-sections (and the Typst template's "1.1" heading numbering): unnumbered
headings (class `unnumbered`) do not advance the counters. Written for cteimpact; tested with pandoc 3.9.
]]

local PREFIX = { fig = "Figure", tbl = "Table", sec = "Section" }
local CALLOUT_TITLE = {
  note = "Note", tip = "Tip", warning = "Warning", caution = "Caution", important = "Important",
}

local is_html = FORMAT:match("html") ~= nil
local is_typst = FORMAT:match("typst") ~= nil

local labels = {}       -- id -> { kind = "fig"|"tbl"|"sec", number = "1"|nil, title = Inlines|nil }
local counters = { fig = 0, tbl = 0 }

local function warn(message)
  io.stderr:write("[cteimpact-crossref] " .. message .. "\n")
end

local function numbering_sections()
  if PANDOC_WRITER_OPTIONS and PANDOC_WRITER_OPTIONS.number_sections ~= nil then
    return PANDOC_WRITER_OPTIONS.number_sections
  end
  return false
end

local function kind_of(id)
  if id == nil then return nil end
  local kind = id:match("^(%a+)%-")
  if kind then kind = kind:lower() end
  if kind and PREFIX[kind] then return kind end
  return nil
end

local function has_class(el, name)
  for _, c in ipairs(el.classes) do
    if c == name then return true end
  end
  return false
end

local function typst_markup(inlines)
  -- Typst markup of a list of inlines (used for callout titles inside raw Typst).
  local text = pandoc.write(pandoc.Pandoc({ pandoc.Plain(inlines) }), "typst")
  return (text:gsub("%s+$", ""))
end

local function typst_string(s)
  return '"' .. s:gsub("\\", "\\\\"):gsub('"', '\\"') .. '"'
end

-- Older pandoc (3.1) leaves "{#tbl-x}" at the end of a table caption; newer versions move it to the table.
local function take_caption_label(tbl)
  local long = tbl.caption.long
  if #long == 0 then return nil end
  local last_block = long[#long]
  local content = last_block.content
  if content == nil or #content == 0 then return nil end
  local last = content[#content]
  if last.t ~= "Str" then return nil end
  local id = last.text:match("^{#([%w%-_:%.]+)}$")
  if id == nil then return nil end
  content:remove(#content)
  while #content > 0 and (content[#content].t == "Space" or content[#content].t == "SoftBreak") do
    content:remove(#content)
  end
  return id
end

local function prepend_caption(caption, kind, number)
  local label = pandoc.Inlines({ pandoc.Str(PREFIX[kind]), pandoc.Space(), pandoc.Str(number) })
  local long = caption.long
  if #long == 0 or long[1].content == nil then
    long:insert(1, pandoc.Plain({ pandoc.Span({ pandoc.Strong(label) }, { class = "caption-label" }) }))
    return caption
  end
  local first = long[1].content
  if #first > 0 then
    label:insert(pandoc.Str(":"))
  end
  first:insert(1, pandoc.Space())
  first:insert(1, pandoc.Span({ pandoc.Strong(label) }, { class = "caption-label" }))
  return caption
end

-- Column widths ----------------------------------------------------------------------------------------------

local document_colwidths = nil -- the document's `tbl-colwidths` as text ("false", "true", "auto", "[40,60]")

local function colwidths_setting(value)
  if value == nil then return nil end
  if type(value) == "boolean" then return tostring(value) end
  if type(value) == "table" and value.t == nil and #value > 0 then
    local parts = {}
    for _, v in ipairs(value) do parts[#parts + 1] = pandoc.utils.stringify(v) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  return pandoc.utils.stringify(value)
end

local function apply_colwidths(tbl)
  local setting = tbl.attributes["tbl-colwidths"] or document_colwidths
  tbl.attributes["tbl-colwidths"] = nil
  if setting == nil or setting == "true" or setting == "auto" then return tbl end
  if setting == "false" then
    for i, spec in ipairs(tbl.colspecs) do tbl.colspecs[i] = { spec[1], pandoc.ColWidthDefault } end
    return tbl
  end
  local widths = {}
  for number in setting:gmatch("[%d%.]+") do widths[#widths + 1] = tonumber(number) end
  if #widths ~= #tbl.colspecs then
    warn("tbl-colwidths of table '" .. tbl.identifier .. "' lists " .. #widths .. " widths for " ..
      #tbl.colspecs .. " columns; widths ignored")
    return tbl
  end
  local total = 0
  for _, w in ipairs(widths) do total = total + w end
  local scale = total > 100 and total or 100
  for i, spec in ipairs(tbl.colspecs) do tbl.colspecs[i] = { spec[1], widths[i] / scale } end
  return tbl
end

-- Callouts -----------------------------------------------------------------------------------------------------

local function callout_kind(div)
  for _, c in ipairs(div.classes) do
    local kind = c:match("^callout%-(%a+)$")
    if kind and CALLOUT_TITLE[kind] then return kind end
  end
  return nil
end

local function callout_title(div)
  local attr_title = div.attributes["title"]
  if attr_title ~= nil and attr_title ~= "" then
    -- the title is text with markdown emphasis at most: never raw HTML, Typst or TeX
    local parsed = pandoc.read(attr_title, "markdown-raw_html-raw_attribute-raw_tex").blocks
    if #parsed > 0 and parsed[1].content ~= nil then
      return pandoc.Inlines(parsed[1].content)
    end
    return pandoc.Inlines({ pandoc.Str(attr_title) })
  end
  if #div.content > 0 and div.content[1].t == "Header" then
    local header = div.content:remove(1)
    return header.content
  end
  return nil
end

local function render_callout(div)
  local kind = callout_kind(div)
  if kind == nil then return nil end
  local title = callout_title(div) or pandoc.Inlines({ pandoc.Str(CALLOUT_TITLE[kind]) })
  if is_html then
    local head = pandoc.Div({ pandoc.Plain(title) }, { class = "callout-title" })
    local body = pandoc.Div(div.content, { class = "callout-body" })
    local attr = pandoc.Attr(div.identifier, { "callout", "callout-" .. kind }, { role = "note" })
    return pandoc.Div({ head, body }, attr)
  elseif is_typst then
    local open = "#callout(kind: " .. typst_string(kind) .. ", title: [" .. typst_markup(title) .. "])["
    local blocks = pandoc.Blocks({ pandoc.RawBlock("typst", open) })
    blocks:extend(div.content)
    blocks:insert(pandoc.RawBlock("typst", "]"))
    return blocks
  else
    local blocks = pandoc.Blocks({ pandoc.Para({ pandoc.Strong(title) }) })
    blocks:extend(div.content)
    return pandoc.Div(blocks, div.attr)
  end
end

local function render_table_note(div)
  if not has_class(div, "table-note") then return nil end
  if is_typst then
    local blocks = pandoc.Blocks({ pandoc.RawBlock("typst", "#tablenote[") })
    blocks:extend(div.content)
    blocks:insert(pandoc.RawBlock("typst", "]"))
    return blocks
  end
  return nil
end

-- Keeping short tables whole (Typst) ---------------------------------------------------------------------------

local KEEP_TOGETHER_ROWS = 30 -- a table with more body rows may break across pages (its header row repeats)

local function body_rows(tbl)
  local n = 0
  for _, body in ipairs(tbl.bodies) do n = n + #body.body end
  return n
end

-- In Typst, a short table and the note under it are kept together (the template's `keep-together`), so that neither
-- a lone row nor a lone note is left at the foot of a page; a table of few rows that is still taller than a page
-- (rows of long wrapped text) is allowed to break, rather than overflowing the page.
local function keep_tables_together(blocks)
  if not is_typst then return blocks end
  local out = pandoc.Blocks({})
  local i = 1
  while i <= #blocks do
    local block = blocks[i]
    if block.t == "Table" and body_rows(block) <= KEEP_TOGETHER_ROWS then
      out:insert(pandoc.RawBlock("typst", "#keep-together["))
      out:insert(block)
      local following = blocks[i + 1]
      if following ~= nil and following.t == "Div" and has_class(following, "table-note") then
        out:insert(following)
        i = i + 1
      end
      out:insert(pandoc.RawBlock("typst", "]"))
    else
      out:insert(block)
    end
    i = i + 1
  end
  return out
end

-- Numbering ----------------------------------------------------------------------------------------------------

local function number_elements(blocks)
  local numbered = numbering_sections()
  local levels = { 0, 0, 0, 0, 0, 0 }
  local function register(id, kind, number, title)
    if id == nil or id == "" then return end
    if labels[id] ~= nil then
      warn("duplicate label '" .. id .. "': the second definition is ignored")
      return
    end
    labels[id] = { kind = kind, number = number, title = title }
  end
  -- a figure or table whose label is of its kind takes the next number of that kind
  local function number_float(el, kind)
    if kind_of(el.identifier) == kind then
      counters[kind] = counters[kind] + 1
      register(el.identifier, kind, tostring(counters[kind]), nil)
    end
    return el
  end
  blocks:walk({
    traverse = "topdown",
    Header = function(h)
      local number = nil
      if numbered and not has_class(h, "unnumbered") then
        levels[h.level] = levels[h.level] + 1
        for i = h.level + 1, #levels do levels[i] = 0 end
        local parts = {}
        for i = 1, h.level do parts[#parts + 1] = tostring(levels[i]) end
        number = table.concat(parts, ".")
      end
      if kind_of(h.identifier) == "sec" then
        register(h.identifier, "sec", number, h.content)
      end
    end,
    Figure = function(fig)
      if fig.identifier == "" then
        -- pandoc < 3.2 keeps the id on the image inside the implicit figure
        local img = nil
        fig.content:walk({ Image = function(i) if img == nil then img = i end end })
        if img ~= nil and kind_of(img.identifier) == "fig" then
          fig.identifier = img.identifier
          img.identifier = ""
        end
      end
      return number_float(fig, "fig")
    end,
    Table = function(tbl)
      if tbl.identifier == "" then
        local id = take_caption_label(tbl)
        if id ~= nil then tbl.identifier = id end
      end
      return number_float(tbl, "tbl")
    end,
  })
end

-- References ---------------------------------------------------------------------------------------------------

local function reference_inlines(citation)
  local id = citation.id
  local kind = kind_of(id)
  local entry = labels[id]
  if entry == nil then
    -- Quarto also accepts a capitalised prefix (@Fig-x); labels are stored as written.
    local lowered = id:gsub("^(%a+)", string.lower)
    entry = labels[lowered]
    id = entry and lowered or id
  end
  if entry == nil then
    warn("unresolved cross-reference @" .. citation.id)
    return pandoc.Inlines({ pandoc.Strong({ pandoc.Str("?@" .. citation.id) }) })
  end
  local text
  if entry.number == nil then
    -- an unnumbered section is referred to by its title
    text = pandoc.Inlines(entry.title)
  elseif citation.mode == "SuppressAuthor" then
    text = pandoc.Inlines({ pandoc.Str(entry.number) })
  else
    text = pandoc.Inlines({ pandoc.Str(PREFIX[kind]), pandoc.Space(), pandoc.Str(entry.number) })
  end
  local out = pandoc.Inlines({})
  if #citation.prefix > 0 then
    out:extend(citation.prefix)
    out:insert(pandoc.Space())
  end
  out:insert(pandoc.Link(text, "#" .. id))
  if #citation.suffix > 0 then
    out:extend(citation.suffix)
  end
  return out
end

local has_bibliography = false

local function resolve_cite(cite)
  for _, citation in ipairs(cite.citations) do
    if kind_of(citation.id) == nil then
      if has_bibliography then
        return nil -- an ordinary citation: leave it to citeproc or the writer
      end
      -- without a bibliography it cannot resolve (and Typst would stop): show it as Quarto does
      local out = pandoc.Inlines({})
      for i, c in ipairs(cite.citations) do
        if i > 1 then out:extend({ pandoc.Str(";"), pandoc.Space() }) end
        warn("unresolved citation @" .. c.id .. " (the document has no bibliography)")
        out:insert(pandoc.Strong({ pandoc.Str("?@" .. c.id) }))
      end
      return out
    end
  end
  local out = pandoc.Inlines({})
  local n = #cite.citations
  for i, citation in ipairs(cite.citations) do
    if i > 1 then
      if i == n then
        out:extend({ pandoc.Space(), pandoc.Str("and"), pandoc.Space() })
      else
        out:extend({ pandoc.Str(","), pandoc.Space() })
      end
    end
    out:extend(reference_inlines(citation))
  end
  return out
end

-- Table of contents after a section ----------------------------------------------------------------------------

-- With `toc-placement: "after:sec-x"` the contents follow the section `sec-x` (the executive summary, so that it
-- fills page 1) instead of preceding the body; the renderer is then not asked for its own table of contents.
local function place_toc(doc)
  local placement = doc.meta["toc-placement"]
  if placement == nil then return end
  local after = pandoc.utils.stringify(placement):match("^after:(.+)$")
  if after == nil then return end
  local depth = tonumber(pandoc.utils.stringify(doc.meta["toc-depth"] or "2")) or 2
  local title = doc.meta["toc-title"] and pandoc.utils.stringify(doc.meta["toc-title"]) or "Contents"
  local found, position = false, nil
  for i, block in ipairs(doc.blocks) do
    if block.t == "Header" and block.level == 1 then
      if found then position = i; break end
      if block.identifier == after then found = true end
    end
  end
  if not found then return end
  position = position or (#doc.blocks + 1)
  local blocks
  if is_typst then
    blocks = { pandoc.RawBlock("typst", "#pagebreak(weak: true)\n#outline(title: " .. typst_string(title) ..
      ", depth: " .. depth .. ", indent: auto)\n#pagebreak(weak: true)") }
  else
    local toc = pandoc.structure.table_of_contents(doc.blocks, { toc_depth = depth, number_sections = numbering_sections() })
    blocks = { pandoc.Div({ pandoc.Para({ pandoc.Strong({ pandoc.Str(title) }) }), toc },
      pandoc.Attr("TOC", { "toc" }, { role = "doc-toc" })) }
  end
  for k = #blocks, 1, -1 do doc.blocks:insert(position, blocks[k]) end
end

-- Document -----------------------------------------------------------------------------------------------------

function Pandoc(doc)
  document_colwidths = colwidths_setting(doc.meta["tbl-colwidths"])
  has_bibliography = doc.meta.bibliography ~= nil or doc.meta.references ~= nil
  -- 1. Callouts first, so that a heading used as a callout title is not numbered as a section.
  doc.blocks = doc.blocks:walk({ traverse = "topdown", Div = function(div)
    local out = render_callout(div)
    if out ~= nil then return out end
    return nil
  end })
  -- 2. Number sections, figures and tables in document order.
  number_elements(doc.blocks)
  -- 3. Captions, references, notes and image alt text.
  doc.blocks = doc.blocks:walk({
    Figure = function(fig)
      local entry = labels[fig.identifier]
      if entry ~= nil and entry.kind == "fig" then
        fig.caption = prepend_caption(fig.caption, "fig", entry.number)
      end
      return fig
    end,
    Table = function(tbl)
      local entry = labels[tbl.identifier]
      if entry ~= nil and entry.kind == "tbl" then
        tbl.caption = prepend_caption(tbl.caption, "tbl", entry.number)
      end
      return apply_colwidths(tbl)
    end,
    Image = function(img)
      local alt = img.attributes["fig-alt"]
      if alt ~= nil then
        img.caption = pandoc.Inlines({ pandoc.Str(alt) })
        img.attributes["fig-alt"] = nil
      end
      return img
    end,
    Cite = resolve_cite,
  })
  doc.blocks = doc.blocks:walk({ Blocks = keep_tables_together })
  doc.blocks = doc.blocks:walk({ Div = render_table_note })
  place_toc(doc)
  return doc
end
