{{/*
khook.alertmanagerEnabled is "true" when eventSources.config enables the alertmanager source.
*/}}
{{- define "khook.alertmanagerEnabled" -}}
{{- $on := false -}}
{{- if .Values.eventSources.enabled -}}
{{- range .Values.eventSources.config.eventSources | default list -}}
{{- if and (eq .name "alertmanager") (or (not (hasKey . "enabled")) .enabled) -}}
{{- $on = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $on -}}
{{- end -}}

{{/*
khook.alertmanagerTokenFromChart is "true" when the chart passes the webhook's bearer token: the
source is enabled, eventSources.alertmanager.bearerToken.enabled, and its settings give no
bearerToken of their own.
*/}}
{{- define "khook.alertmanagerTokenFromChart" -}}
{{- $on := false -}}
{{- if and (eq (include "khook.alertmanagerEnabled" .) "true") .Values.eventSources.alertmanager.bearerToken.enabled -}}
{{- range .Values.eventSources.config.eventSources | default list -}}
{{- if and (eq .name "alertmanager") (not (hasKey (.settings | default dict) "bearerToken")) -}}
{{- $on = true -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $on -}}
{{- end -}}

{{/*
khook.alertmanagerTokenSecret is the name of the Secret holding the webhook's bearer token.
*/}}
{{- define "khook.alertmanagerTokenSecret" -}}
{{- default (printf "%s-alertmanager-webhook-token" (include "khook.fullname" .)) .Values.eventSources.alertmanager.bearerToken.existingSecret -}}
{{- end -}}

{{/*
khook.eventWatcherConfig is event-watcher-config.yaml: eventSources.config with mappingFile, and
the alertmanager source's bearerToken read from ${KHOOK_ALERTMANAGER_TOKEN} when the chart
passes the token.
*/}}
{{- define "khook.eventWatcherConfig" -}}
{{- $config := deepCopy .Values.eventSources.config -}}
{{- if eq (include "khook.alertmanagerTokenFromChart" .) "true" -}}
{{- $sources := list -}}
{{- range $config.eventSources -}}
{{- $s := . -}}
{{- if eq $s.name "alertmanager" -}}
{{- $settings := $s.settings | default dict -}}
{{- $_ := set $settings "bearerToken" "${KHOOK_ALERTMANAGER_TOKEN}" -}}
{{- $_ = set $s "settings" $settings -}}
{{- end -}}
{{- $sources = append $sources $s -}}
{{- end -}}
{{- $_ := set $config "eventSources" $sources -}}
{{- end -}}
{{- toYaml (merge (dict "mappingFile" "event-mappings.yaml") $config) -}}
{{- end -}}

{{/*
khook.labelSelector renders a LabelSelector value, leaving out its empty parts ({} when both are).
*/}}
{{- define "khook.labelSelector" -}}
{{- $out := dict -}}
{{- with .matchLabels }}{{ $_ := set $out "matchLabels" . }}{{ end -}}
{{- with .matchExpressions }}{{ $_ := set $out "matchExpressions" . }}{{ end -}}
{{- toYaml $out -}}
{{- end -}}
