//Maya ASCII 2024 scene
//Name: shot010.ma
//Last modified: Tue, Dec 01, 2026 09:12:44 AM
//Codeset: UTF-8
// Written by hand for renderq's tests, in Maya's documented ASCII syntax (MEL statements:
// requires, currentUnit, file, createNode, setAttr, select); no Maya made it.
file -rdi 1 -ns "hero" -rfn "heroRN" -op "v=0;" -typ "mayaAscii" "/proj/assets/hero/hero_rig.ma";
file -r -ns "hero" -dr 1 -rfn "heroRN" -op "v=0;" -typ "mayaAscii" "/proj/assets/hero/hero_rig.ma";
requires maya "2024";
requires -nodeType "aiOptions" -nodeType "aiAOVDriver" -nodeType "aiAOVFilter" "mtoa" "5.3.0";
requires "AbcImport" "1.0";
currentUnit -l centimeter -a degree -t pal;
fileInfo "application" "maya";
fileInfo "product" "Maya 2024";
createNode transform -s -n "persp";
	rename -uid "A1B2C3D4-0000-0000-0000-000000000001";
	setAttr ".v" no;
	setAttr ".t" -type "double3" 28 21 28 ;
createNode camera -s -n "perspShape" -p "persp";
	setAttr -k off ".v" no;
	setAttr ".fl" 34.999999999999993;
	setAttr ".rnd" no;
	setAttr ".imn" -type "string" "persp";
createNode transform -s -n "top";
createNode camera -s -n "topShape" -p "top";
	setAttr ".rnd" no;
	setAttr ".o" yes;
createNode transform -n "shotCam";
	setAttr ".t" -type "double3" 0 12 40 ;
createNode camera -n "shotCamShape" -p "shotCam";
	setAttr -k off ".v";
	setAttr ".rnd" yes;
	setAttr ".cap" -type "double2" 1.41732 0.94488 ;
	setAttr ".imn" -type "string" "shotCam";
createNode file -n "woodColor";
	setAttr ".ftn" -type "string" "sourceimages/wood_diffuse.png";
	setAttr ".cs" -type "string" "sRGB";
createNode place2dTexture -n "place2dTexture1";
createNode file -n "skyHdr";
	setAttr ".ftn" -type "string" "/proj/tex/sky; overcast.exr";
createNode AlembicNode -n "crowd_AlembicNode";
	setAttr ".fn" -type "string" "/proj/cache/crowd.abc";
createNode cacheFile -n "clothCache1";
	setAttr ".cp" -type "string" "/proj/cache/cloth/";
	setAttr ".cn" -type "string" "clothShape";
createNode script -n "sceneConfigurationScriptNode";
	setAttr ".b" -type "string" "playbackOptions -min 1 -max 120 -ast 1 -aet 200 ";
	setAttr ".st" 6;
select -ne :time1;
	setAttr ".o" 1001;
select -ne :defaultRenderGlobals;
	addAttr -ci true -h true -sn "dss" -ln "defaultSurfaceShader" -dt "string";
	setAttr ".ren" -type "string" "arnold";
	setAttr ".outf" 51;
	setAttr ".imfkey" -type "string" "exr";
	setAttr ".an" yes;
	setAttr ".fs" 1001;
	setAttr ".ef" 1100;
	setAttr ".bfs" 2;
	setAttr ".ifp" -type "string" "renders/<Scene>/<RenderLayer>/<Scene>";
select -ne :defaultResolution;
	setAttr ".w" 2048;
	setAttr ".h" 858;
	setAttr ".pa" 1;
	setAttr ".dar" 2.3870000839233398;
connectAttr "place2dTexture1.o" "woodColor.uv";
// End of shot010.ma
